package dev.wirespan.span;

/**
 * Turns a request-target into a low-cardinality route for span names, by replacing path segments
 * that look like identifiers with {@value #PLACEHOLDER}.
 *
 * <p>A segment is identifier-like when it is (after removing a short file extension such as
 * {@code .json}, which is kept):
 *
 * <ul>
 *   <li>all digits ({@code 42});
 *   <li>digits with punctuation but no letters: dates, times, versions, decimals ({@code
 *       2024-05-01}, {@code 12:30:00}, {@code 1.5});
 *   <li>a UUID ({@code 123e4567-e89b-12d3-a456-426614174000}, any case);
 *   <li>hexadecimal of at least {@value #MIN_HEX_ID_CHARS} characters with a digit (hashes,
 *       object ids);
 *   <li>a token of at least {@value #MIN_TOKEN_ID_CHARS} letters, digits and {@code -_.~=+%}
 *       with at least one digit (base64 and ULID-like ids), unless it is a lower-case domain
 *       name such as {@code discovery.k8s.io};
 *   <li>an e-mail address;
 *   <li>longer than {@value #MAX_LITERAL_SEGMENT_CHARS} characters (no route has such a literal).
 * </ul>
 *
 * <p>The query and fragment are dropped; absolute-form targets ({@code http://host/path}) give
 * their path. Only the first {@value #MAX_SEGMENTS} segments are kept; longer paths end in
 * {@code /...}. A target that is not a path (authority-form of CONNECT, asterisk-form) has no
 * route: {@link #of} returns the empty string.
 */
public final class RouteTemplate {
  public static final String PLACEHOLDER = "{id}";
  public static final int MAX_SEGMENTS = 10;
  public static final int MIN_HEX_ID_CHARS = 8;
  public static final int MIN_TOKEN_ID_CHARS = 16;
  public static final int MAX_LITERAL_SEGMENT_CHARS = 64;

  /** Longest file extension kept apart from an identifier, e.g. ".json" -> 4. */
  private static final int MAX_EXTENSION_CHARS = 5;
  private static final String TRUNCATION_MARK = "/...";
  private static final int UUID_CHARS = 36;

  private RouteTemplate() {}

  /** The route of a request-target, e.g. {@code /users/{id}/orders} for {@code /users/7/orders?x}. */
  public static String of(String target) {
    return ofPath(path(target));
  }

  /** The route of a path as {@link #path} returns it. */
  static String ofPath(String path) {
    if (path.isEmpty()) {
      return "";
    }
    if (keptAsIs(path)) {
      return path; // the common case: literal segments only, nothing to build
    }
    StringBuilder route = new StringBuilder(path.length());
    int segments = 0;
    int start = 1; // path starts with '/'
    while (true) {
      if (segments == MAX_SEGMENTS) {
        route.append(TRUNCATION_MARK);
        break;
      }
      int end = path.indexOf('/', start);
      if (end < 0) {
        end = path.length();
      }
      route.append('/');
      appendSegment(route, path, start, end);
      segments++;
      if (end == path.length()) {
        break;
      }
      start = end + 1;
    }
    return route.toString();
  }

  /** Whether the route of {@code path} is the path itself: few segments, all literal. */
  private static boolean keptAsIs(String path) {
    int segments = 0;
    int start = 1;
    while (true) {
      if (segments == MAX_SEGMENTS) {
        return false;
      }
      int end = path.indexOf('/', start);
      if (end < 0) {
        end = path.length();
      }
      if (!literal(path, start, end)) {
        return false;
      }
      segments++;
      if (end == path.length()) {
        return true;
      }
      start = end + 1;
    }
  }

  /** The path of a request-target without query and fragment; empty when it has no path. */
  static String path(String target) {
    int pathStart = 0;
    if (!target.startsWith("/")) {
      int scheme = target.indexOf("://");
      if (scheme < 0) {
        return "";
      }
      pathStart = target.indexOf('/', scheme + 3);
      if (pathStart < 0) {
        // "http://host" or "http://host?q": the path is empty, i.e. "/".
        return "/";
      }
      int queryBeforePath = indexOfAny(target, scheme + 3, pathStart);
      if (queryBeforePath >= 0) {
        return "/";
      }
    }
    int end = indexOfAny(target, pathStart, target.length());
    return target.substring(pathStart, end < 0 ? target.length() : end);
  }

  private static int indexOfAny(String s, int from, int to) {
    for (int i = from; i < to; i++) {
      char c = s.charAt(i);
      if (c == '?' || c == '#') {
        return i;
      }
    }
    return -1;
  }

  /** Whether {@link #appendSegment} appends the segment as it is. */
  private static boolean literal(String path, int start, int end) {
    int length = end - start;
    if (length == 0) {
      return true;
    }
    if (length > MAX_LITERAL_SEGMENT_CHARS || isIdentifier(path, start, end)) {
      return false;
    }
    int dot = path.lastIndexOf('.', end - 1);
    return !(dot > start && end - dot - 1 <= MAX_EXTENSION_CHARS && isLetters(path, dot + 1, end)
        && isIdentifier(path, start, dot));
  }

  private static void appendSegment(StringBuilder out, String path, int start, int end) {
    int length = end - start;
    if (length == 0) {
      return;
    }
    if (length > MAX_LITERAL_SEGMENT_CHARS) {
      out.append(PLACEHOLDER);
      return;
    }
    if (isIdentifier(path, start, end)) {
      out.append(PLACEHOLDER);
      return;
    }
    int dot = path.lastIndexOf('.', end - 1);
    if (dot > start && end - dot - 1 <= MAX_EXTENSION_CHARS && isLetters(path, dot + 1, end)
        && isIdentifier(path, start, dot)) {
      out.append(PLACEHOLDER).append(path, dot, end);
      return;
    }
    out.append(path, start, end);
  }

  static boolean isIdentifier(CharSequence s, int start, int end) {
    int length = end - start;
    int digits = 0;
    int letters = 0;
    int hexLetters = 0;
    int tokenPunctuation = 0;
    int at = -1;
    for (int i = start; i < end; i++) {
      char c = s.charAt(i);
      if (c >= '0' && c <= '9') {
        digits++;
      } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        letters++;
        if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
          hexLetters++;
        }
      } else if (c == '@') {
        at = i;
      } else if (c == '-' || c == '_' || c == '.' || c == '~' || c == '=' || c == '+'
          || c == '%' || c == ':' || c == ',') {
        tokenPunctuation++;
      } else {
        return false;
      }
    }
    if (digits == 0 && at < 0) {
      // Words, with or without separators, are route literals ("users", "order-items"); this
      // also keeps pure-letter hex-looking words ("deadbeef", "facade") as they are unlikely ids.
      return false;
    }
    if (at > start && hasDotAfter(s, at, end)) {
      return true; // e-mail address
    }
    if (letters == 0) {
      return digits > 0; // numbers, dates, times, versions
    }
    if (length == UUID_CHARS && isUuid(s, start)) {
      return true;
    }
    if (tokenPunctuation == 0 && letters == hexLetters) {
      if (length >= MIN_HEX_ID_CHARS) {
        return true;
      }
    }
    return length >= MIN_TOKEN_ID_CHARS && !isDomainName(s, start, end);
  }

  /**
   * Lower-case dot-separated labels that each start with a letter: a host or API group name
   * ({@code discovery.k8s.io}), a literal of the route rather than an id.
   */
  private static boolean isDomainName(CharSequence s, int start, int end) {
    boolean labelStart = true;
    boolean dot = false;
    for (int i = start; i < end; i++) {
      char c = s.charAt(i);
      if (c == '.') {
        if (labelStart) {
          return false;
        }
        dot = true;
        labelStart = true;
        continue;
      }
      boolean lower = c >= 'a' && c <= 'z';
      if (labelStart ? !lower : !(lower || (c >= '0' && c <= '9') || c == '-')) {
        return false;
      }
      labelStart = false;
    }
    return dot && !labelStart;
  }

  private static boolean hasDotAfter(CharSequence s, int at, int end) {
    for (int i = at + 2; i < end - 1; i++) {
      if (s.charAt(i) == '.') {
        return true;
      }
    }
    return false;
  }

  private static boolean isUuid(CharSequence s, int start) {
    for (int i = 0; i < UUID_CHARS; i++) {
      char c = s.charAt(start + i);
      boolean dash = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash != (c == '-')) {
        return false;
      }
      if (!dash && Character.digit(c, 16) < 0) {
        return false;
      }
    }
    return true;
  }

  private static boolean isLetters(String s, int start, int end) {
    if (start == end) {
      return false;
    }
    for (int i = start; i < end; i++) {
      char c = s.charAt(i);
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
        return false;
      }
    }
    return true;
  }
}
