package dev.wirespan.span;

import java.util.Locale;

/**
 * Removes secrets from the parts of a request (and of a process's command line) that leave the
 * agent as attributes.
 *
 * <p>A parameter name is secret when, lowercased, it contains one of {@link #SECRET_NAME_PARTS}
 * (e.g. {@code access_token}, {@code client_secret}, {@code api_key}, {@code X-Amz-Signature},
 * {@code X-Amz-Credential}, {@code X-Amz-Security-Token}, {@code X-Goog-Signature}, {@code sig},
 * {@code AWSAccessKeyId}). Matching is deliberately broad: redacting a harmless value costs
 * little, leaking a credential costs a lot.
 */
public final class Redaction {
  /** What a secret value is replaced with (the semantic conventions' choice). */
  public static final String REDACTED = "REDACTED";

  /** Lowercase substrings that make a parameter name secret. */
  public static final String[] SECRET_NAME_PARTS = {
    "token", "secret", "passw", "pwd", "key", "signature", "sig", "auth", "credential",
    "session", "jwt", "code", "otp", "bearer", "cookie", "csrf", "xsrf"
  };

  private Redaction() {}

  /** Whether a parameter or option name looks like it carries a secret. */
  public static boolean isSecretName(CharSequence name) {
    String lower = name.toString().toLowerCase(Locale.ROOT);
    for (String part : SECRET_NAME_PARTS) {
      if (lower.contains(part)) {
        return true;
      }
    }
    return false;
  }

  /**
   * The query with the value of every secret parameter replaced by {@value #REDACTED}; names,
   * order and non-secret values are kept. A parameter without {@code =} is kept as is.
   */
  public static String redactQuery(String query) {
    if (query.isEmpty()) {
      return query;
    }
    StringBuilder out = null;
    int start = 0;
    while (start <= query.length()) {
      int end = query.indexOf('&', start);
      if (end < 0) {
        end = query.length();
      }
      int eq = query.indexOf('=', start);
      if (eq >= 0 && eq < end && isSecretName(percentDecodedName(query, start, eq))) {
        if (out == null) {
          out = new StringBuilder(query.length());
          out.append(query, 0, start);
        }
        out.append(query, start, eq + 1).append(REDACTED);
      } else if (out != null) {
        out.append(query, start, end);
      }
      if (end == query.length()) {
        break;
      }
      if (out != null) {
        out.append('&');
      }
      start = end + 1;
    }
    return out == null ? query : out.toString();
  }

  /**
   * A command line (arguments separated by spaces) with the values of secret options replaced:
   * {@code --password=x} and {@code PASSWORD=x} become {@code --password=REDACTED}, and the
   * argument after a bare secret option ({@code --token x}) becomes {@value #REDACTED}.
   */
  public static String redactCommandLine(String commandLine) {
    String[] args = commandLine.split(" ", -1);
    boolean redactNext = false;
    boolean changed = false;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (redactNext && !arg.startsWith("-")) {
        args[i] = REDACTED;
        changed = true;
        redactNext = false;
        continue;
      }
      redactNext = false;
      int eq = arg.indexOf('=');
      if (eq > 0 && isSecretName(arg.substring(0, eq))) {
        args[i] = arg.substring(0, eq + 1) + REDACTED;
        changed = true;
      } else if (eq < 0 && arg.startsWith("-") && isSecretName(arg)) {
        redactNext = true;
      }
    }
    return changed ? String.join(" ", args) : commandLine;
  }

  /** Caps a value at {@code maxChars} characters without splitting a surrogate pair. */
  public static String cap(String value, int maxChars) {
    if (value.length() <= maxChars) {
      return value;
    }
    int end = maxChars;
    if (end > 0 && Character.isHighSurrogate(value.charAt(end - 1))) {
      end--;
    }
    return value.substring(0, end);
  }

  private static CharSequence percentDecodedName(String query, int start, int end) {
    if (query.indexOf('%', start) < 0 || query.indexOf('%', start) >= end) {
      return query.subSequence(start, end);
    }
    StringBuilder name = new StringBuilder(end - start);
    for (int i = start; i < end; i++) {
      char c = query.charAt(i);
      if (c == '%' && i + 2 < end) {
        int hi = Character.digit(query.charAt(i + 1), 16);
        int lo = Character.digit(query.charAt(i + 2), 16);
        if (hi >= 0 && lo >= 0) {
          name.append((char) (hi << 4 | lo));
          i += 2;
          continue;
        }
      }
      name.append(c == '+' ? ' ' : c);
    }
    return name;
  }
}
