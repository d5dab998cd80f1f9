package dev.wirespan.http;

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
 * validated (as the default headers validate them): the agent watches messages a peer already
 * accepted, and servers accept fields that a strict parser would refuse (nginx ignores a field
 * with an invalid name and serves the request). Failing the message over a field nobody reads
 * would lose the exchange; the fields that decide framing are kept, so validated. One shape of a
 * dropped name still fails the message: whitespace around it ({@code Content-Length : 5}). Netty
 * leaves that whitespace in a request's field name for the header validation to refuse, RFC 9112
 * (section 5.1) has servers reject it because it smuggles framing fields past lenient parsers,
 * and as a dropped field it would silently change where the message ends.
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

  static boolean needed(CharSequence name) {
    return kept(name) != null;
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

  private static void checkNoWhitespaceAround(CharSequence name) {
    int last = name.length() - 1;
    if (last < 0 || isWhitespace(name.charAt(0)) || isWhitespace(name.charAt(last))) {
      throw new IllegalArgumentException("invalid header name '" + name + "'");
    }
  }

  private static boolean isWhitespace(char c) {
    return c == ' ' || c == '\t';
  }

  @Override
  public HttpHeaders add(CharSequence name, Object value) {
    AsciiString kept = kept(name);
    if (kept != null) {
      return super.add(kept, value);
    }
    checkNoWhitespaceAround(name);
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
    checkNoWhitespaceAround(name);
    return this;
  }

  @Override
  public HttpHeaders add(String name, Iterable<?> values) {
    return add((CharSequence) name, values);
  }
}
