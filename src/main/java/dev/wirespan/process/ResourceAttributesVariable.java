package dev.wirespan.process;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.annotation.Nullable;

/**
 * A process's {@code OTEL_RESOURCE_ATTRIBUTES}, read as the OpenTelemetry SDKs read it:
 * comma-separated {@code key=value} pairs with percent-encoded values.
 */
public final class ResourceAttributesVariable {
  public static final String NAME = "OTEL_RESOURCE_ATTRIBUTES";
  /** Pairs kept at most: the variable comes from an untrusted process. */
  public static final int MAX_PAIRS = 32;
  /** Longest key or value kept. */
  public static final int MAX_CHARS = 256;

  private ResourceAttributesVariable() {}

  /** The pairs of {@code text} (empty for null or blank), bounded in number and length. */
  public static Map<String, String> parse(@Nullable String text) {
    Map<String, String> attributes = new LinkedHashMap<>();
    if (text == null || text.isBlank()) {
      return attributes;
    }
    for (String pair : text.split(",")) {
      if (attributes.size() == MAX_PAIRS) {
        break;
      }
      int eq = pair.indexOf('=');
      if (eq <= 0) {
        continue;
      }
      String key = pair.substring(0, eq).trim();
      if (key.isEmpty()) {
        continue;
      }
      String raw = pair.substring(eq + 1).trim();
      String value;
      try {
        // '+' is a literal plus in this variable, not a space as in form encoding.
        value = URLDecoder.decode(raw.replace("+", "%2B"), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        value = raw; // a malformed escape is the process's business: keep it as written
      }
      attributes.put(cap(key), cap(value));
    }
    return attributes;
  }

  private static String cap(String s) {
    if (s.length() <= MAX_CHARS) {
      return s;
    }
    int end = Character.isHighSurrogate(s.charAt(MAX_CHARS - 1)) ? MAX_CHARS - 1 : MAX_CHARS;
    return s.substring(0, end); // never half a surrogate pair
  }
}
