package dev.wirespan.http;

import dev.wirespan.capture.CaptureEvent;
import io.netty.buffer.ByteBuf;
import javax.annotation.Nullable;

/**
 * Recognises the first bytes of an HTTP/1.x message in a captured payload, without copying it:
 * used to tell which direction carries requests and to find the next message boundary after
 * bytes were lost. Peers read and write in small pieces (a byte-wise header reader, a status line
 * written apart from the headers), so the bytes tested may be ones gathered from earlier events
 * followed by the current event's payload ({@link Bytes}).
 */
final class MessageStart {
  /** How the payload's first bytes compare with a message start. */
  enum Match {
    /** The bytes hold a complete, plausible request line or status line start. */
    MATCH,
    /** Every byte there is fits, but too few bytes to be sure. */
    PREFIX,
    /** The bytes cannot start such a message. */
    MISMATCH
  }

  /** Longest method token accepted ("BASELINE-CONTROL" and friends are 16-17 bytes). */
  static final int MAX_METHOD_BYTES = 24;

  private static final byte[] VERSION_PREFIX = {'H', 'T', 'T', 'P', '/', '1', '.'};
  private static final boolean[] TCHAR = new boolean[128];
  private static final byte[][] KNOWN_METHODS =
      java.util.stream.Stream.of(
              "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
          .map(m -> m.getBytes(java.nio.charset.StandardCharsets.US_ASCII))
          .toArray(byte[][]::new);

  static {
    for (char c = '0'; c <= '9'; c++) {
      TCHAR[c] = true;
    }
    for (char c = 'a'; c <= 'z'; c++) {
      TCHAR[c] = true;
      TCHAR[Character.toUpperCase(c)] = true;
    }
    for (char c : "!#$%&'*+-.^_`|~".toCharArray()) {
      TCHAR[c] = true;
    }
  }

  private MessageStart() {}

  /**
   * The bytes to test: bytes gathered from earlier events, then a range of an event's payload.
   * One instance is reused for every test on the capture thread (no per-event allocation).
   */
  static final class Bytes {
    @Nullable private ByteBuf head;
    private int headLength;
    @Nullable private CaptureEvent event;
    private int from;
    private int length;

    /**
     * Tests {@code head}'s readable bytes (none when null) followed by payload bytes [from, to)
     * of {@code event}.
     */
    Bytes set(@Nullable ByteBuf head, CaptureEvent event, int from, int to) {
      this.head = head;
      this.headLength = head == null ? 0 : head.readableBytes();
      this.event = event;
      this.from = from;
      this.length = headLength + Math.max(0, to - from);
      return this;
    }

    int length() {
      return length;
    }

    byte at(int i) {
      return i < headLength
          ? head.getByte(head.readerIndex() + i)
          : event.payloadByte(from + i - headLength);
    }
  }

  /**
   * Compares the first {@code n} payload bytes with "METHOD SP target SP HTTP/1.": a method token,
   * a target of visible bytes no longer than {@code maxTargetBytes}, and the version prefix.
   */
  static Match request(CaptureEvent e, int n, int maxTargetBytes) {
    return request(new Bytes().set(null, e, 0, n), maxTargetBytes);
  }

  /** Compares the first {@code n} payload bytes with "HTTP/1.x ddd". */
  static Match response(CaptureEvent e, int n) {
    return response(new Bytes().set(null, e, 0, n));
  }

  /**
   * Compares {@code e} with "METHOD SP target SP HTTP/1.": a method token, a target of visible
   * bytes no longer than {@code maxTargetBytes}, and the version prefix.
   */
  static Match request(Bytes e, int maxTargetBytes) {
    int n = e.length();
    int i = 0;
    while (i < n && i <= MAX_METHOD_BYTES && isTchar(e.at(i))) {
      i++;
    }
    if (i == n) {
      return i <= MAX_METHOD_BYTES ? Match.PREFIX : Match.MISMATCH;
    }
    if (i == 0 || i > MAX_METHOD_BYTES || e.at(i) != ' ') {
      return Match.MISMATCH;
    }
    i++;
    int targetStart = i;
    while (i < n && i - targetStart <= maxTargetBytes && isTargetByte(e.at(i))) {
      i++;
    }
    if (i - targetStart > maxTargetBytes) {
      return Match.MISMATCH;
    }
    if (i == n) {
      return Match.PREFIX;
    }
    if (i == targetStart || e.at(i) != ' ') {
      return Match.MISMATCH;
    }
    return prefix(e, i + 1, n, VERSION_PREFIX);
  }

  /**
   * Whether {@code e} begins with one of the methods HTTP defines (RFC 9110, RFC 5789) and a
   * space. Gathered bytes that end a body can run into the method of the request that follows
   * ("...xyzGET /"); the known method tells where the request really begins.
   */
  static boolean knownMethod(Bytes e) {
    return startsWithKnownMethod(e, false);
  }

  /**
   * Whether {@code e} is, or begins with, one of the methods HTTP defines and a space: "G", "PO",
   * "GET" and "GET /" are; "BODY", "GETX" and "M-SEARCH" are not.
   */
  static boolean knownMethodOrPrefix(Bytes e) {
    return startsWithKnownMethod(e, true);
  }

  /** A known method and a space begin {@code e}, or (if {@code prefixEnough}) all of it fits. */
  private static boolean startsWithKnownMethod(Bytes e, boolean prefixEnough) {
    int n = e.length();
    if (n == 0) {
      return false;
    }
    next:
    for (byte[] m : KNOWN_METHODS) {
      int k = 0;
      for (; k < m.length && k < n; k++) {
        if (e.at(k) != m[k]) {
          continue next;
        }
      }
      if (k == n ? prefixEnough : e.at(k) == ' ') {
        return true;
      }
    }
    return false;
  }

  /** Compares {@code e} with "HTTP/1.x ddd". */
  static Match response(Bytes e) {
    int n = e.length();
    Match version = prefix(e, 0, n, VERSION_PREFIX);
    if (version != Match.MATCH) {
      return version;
    }
    int i = VERSION_PREFIX.length;
    // minor version digit, space, three status digits
    for (int k = 0; k < 5; k++, i++) {
      if (i >= n) {
        return Match.PREFIX;
      }
      byte b = e.at(i);
      boolean ok = k == 1 ? b == ' ' : b >= '0' && b <= '9';
      if (!ok) {
        return Match.MISMATCH;
      }
    }
    return Match.MATCH;
  }

  private static Match prefix(Bytes e, int from, int n, byte[] expected) {
    for (int k = 0; k < expected.length; k++) {
      if (from + k >= n) {
        return Match.PREFIX;
      }
      if (e.at(from + k) != expected[k]) {
        return Match.MISMATCH;
      }
    }
    return Match.MATCH;
  }

  private static boolean isTchar(byte b) {
    return b >= 0 && TCHAR[b];
  }

  /** Visible ASCII or a byte of a raw UTF-8 sequence (some clients do not percent-encode). */
  private static boolean isTargetByte(byte b) {
    return b < 0 || (b > ' ' && b < 0x7f);
  }
}
