package dev.wirespan.http;

import io.netty.handler.codec.DefaultHeaders.NameValidator;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpHeadersFactory;
import io.netty.util.AsciiString;
import java.util.Arrays;
import javax.annotation.Nullable;

/**
 * The header set of a decoded message that keeps only the fields someone reads: the span (Host,
 * User-Agent; traceparent and tracestate for linkage) and Netty's decoder itself (framing:
 * Content-Length, Transfer-Encoding; protocol switches: Connection, Upgrade and the WebSocket
 * fields it consults). A browser request carries ten or more other fields (Accept-*, Cookie,
 * Sec-Fetch-*, ...): storing them cost most of the decoder's allocation per message, for nothing.
 * The fields are still parsed and counted in the header size limit, but only the kept ones are
 * validated (a kept name equals a known token, its value is checked as the default headers check
 * values): the agent watches messages a peer already accepted, and servers accept fields that a
 * strict parser would refuse (nginx ignores a field with an invalid name and serves the request).
 * Failing the message over a field nobody reads would lose the exchange; the fields that decide
 * framing are kept, so validated. The dropped fields that nginx refuses with 400 still fail the
 * message ({@link #checkDropped}): they are the shapes that smuggle a framing field past a lenient
 * parser, such as whitespace before the colon ({@code Content-Length : 5}, which Netty leaves in a
 * request's field name for the header validation to refuse; RFC 9112, section 5.1).
 *
 * <p>Anything that needs another field adds it to {@link #NEEDED} (lowercase).
 */
final class NeededHeaders extends DefaultHttpHeaders {
  static final AsciiString TRACEPARENT = AsciiString.cached("traceparent");
  static final AsciiString TRACESTATE = AsciiString.cached("tracestate");

  /** Lowercase names of the kept fields. */
  private static final AsciiString[] NEEDED = {
    HttpHeaderNames.HOST,
    HttpHeaderNames.USER_AGENT,
    TRACEPARENT,
    TRACESTATE,
    HttpHeaderNames.CONTENT_LENGTH,
    HttpHeaderNames.TRANSFER_ENCODING,
    HttpHeaderNames.CONNECTION,
    HttpHeaderNames.UPGRADE,
    HttpHeaderNames.SEC_WEBSOCKET_KEY1,
    HttpHeaderNames.SEC_WEBSOCKET_KEY2,
    HttpHeaderNames.SEC_WEBSOCKET_ORIGIN,
    HttpHeaderNames.SEC_WEBSOCKET_LOCATION,
    HttpHeaderNames.SEC_WEBSOCKET_ACCEPT,
  };

  /** Request and response headers as {@link NeededHeaders}; trailers are not kept by anyone. */
  static final HttpHeadersFactory FACTORY =
      new HttpHeadersFactory() {
        @Override
        public HttpHeaders newHeaders() {
          return new NeededHeaders();
        }

        @Override
        public HttpHeaders newEmptyHeaders() {
          return DefaultHttpHeadersFactory.headersFactory().newEmptyHeaders();
        }
      };

  /**
   * Values are validated as the default headers validate them; names are not: a kept field is
   * stored under its {@link #NEEDED} constant, a valid token by construction, and validating it
   * again on every message was 8 % of the capture thread.
   */
  NeededHeaders() {
    super(true, NameValidator.NOT_NULL);
  }

  /** {@link #NEEDED} by name length: most fields are ruled out by length and first letter. */
  private static final AsciiString[][] NEEDED_BY_LENGTH = byLength();

  private static AsciiString[][] byLength() {
    int longest = 0;
    for (AsciiString n : NEEDED) {
      longest = Math.max(longest, n.length());
    }
    AsciiString[][] table = new AsciiString[longest + 1][];
    for (AsciiString n : NEEDED) {
      AsciiString[] same = table[n.length()];
      AsciiString[] grown = same == null ? new AsciiString[1] : Arrays.copyOf(same, same.length + 1);
      grown[grown.length - 1] = n;
      table[n.length()] = grown;
    }
    return table;
  }

  /**
   * The kept name {@code name} stands for (the lowercase constant every reader looks fields up
   * with), or null when the field is not kept. Stored under that constant, a field is found by
   * identity and a hash computed once, not by comparing the decoded name character by character
   * on every lookup.
   */
  @Nullable
  static AsciiString kept(CharSequence name) {
    int length = name.length();
    if (length == 0 || length >= NEEDED_BY_LENGTH.length) {
      return null;
    }
    AsciiString[] candidates = NEEDED_BY_LENGTH[length];
    if (candidates == null) {
      return null;
    }
    for (AsciiString n : candidates) {
      if (sameLowercase(n, name)) {
        return n;
      }
    }
    return null;
  }

  /**
   * Whether {@code name} is {@code lowercase} in any case; both have the same length. ASCII
   * folding only (header names are tokens), so cheaper than {@link
   * AsciiString#contentEqualsIgnoreCase}, which was 4 % of the capture thread.
   */
  private static boolean sameLowercase(AsciiString lowercase, CharSequence name) {
    for (int i = 0; i < lowercase.length(); i++) {
      char k = (char) (lowercase.byteAt(i) & 0xff);
      char c = name.charAt(i);
      if (c != k && !(k >= 'a' && k <= 'z' && (c | 0x20) == k)) {
        return false;
      }
    }
    return true;
  }

  /**
   * Fails a dropped field the way nginx fails it (400), rather than ignoring it: a name that is
   * empty or holds a control character, whitespace or DEL (a parser that ends the name there sees
   * another field: {@code Content-Length x: 5}), or a value with a NUL or a CR (Netty ends lines
   * at LF only; a parser that ends them at a lone CR sees the rest as another field). Other bytes
   * that are not token characters ({@code X@Y}) nginx ignores, and so does the agent.
   */
  private static void checkDropped(CharSequence name, Object value) {
    int length = name.length();
    if (length == 0) {
      throw new IllegalArgumentException("empty header name");
    }
    for (int i = 0; i < length; i++) {
      char c = name.charAt(i);
      if (c <= ' ' || c == 0x7f) {
        throw new IllegalArgumentException("invalid header name '" + name + "' at index " + i);
      }
    }
    if (value instanceof CharSequence text) {
      for (int i = 0; i < text.length(); i++) {
        char c = text.charAt(i);
        if (c == '\r' || c == 0) {
          throw new IllegalArgumentException(
              "invalid value of header '" + name + "' at index " + i);
        }
      }
    }
  }

  @Override
  public HttpHeaders add(CharSequence name, Object value) {
    AsciiString kept = kept(name);
    if (kept != null) {
      return super.add(kept, value);
    }
    checkDropped(name, value);
    return this;
  }

  @Override
  public HttpHeaders add(String name, Object value) {
    return add((CharSequence) name, value);
  }

  @Override
  public HttpHeaders add(CharSequence name, Iterable<?> values) {
    AsciiString kept = kept(name);
    if (kept != null) {
      return super.add(kept, values);
    }
    for (Object value : values) {
      checkDropped(name, value);
    }
    return this;
  }

  @Override
  public HttpHeaders add(String name, Iterable<?> values) {
    return add((CharSequence) name, values);
  }
}
