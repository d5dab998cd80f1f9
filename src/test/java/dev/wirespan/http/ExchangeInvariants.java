package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.span.MonotonicClock;
import dev.wirespan.span.PeerResolver;
import dev.wirespan.span.SpanFactory;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.AttributeType;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.semconv.UrlAttributes;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetEncoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import javax.annotation.Nullable;

/**
 * What every exchange the tracker reports must satisfy, whatever bytes it was fed: sane values,
 * bounded strings of printable characters, no credentials or bodies, and a span built from it
 * that stays within the span stage's caps and encodes as valid UTF-8.
 */
final class ExchangeInvariants {
  /** Longest protocol version string ("1.1"; Netty accepts HTTP/major.minor with small numbers). */
  private static final int MAX_VERSION_CHARS = 16;
  private static final int MIN_STATUS_CODE = 100;
  private static final int MAX_STATUS_CODE = 999;
  /** Span names are "{method} {route}"; the route is a capped path. */
  private static final int MAX_SPAN_NAME_CHARS = SpanFactory.MAX_URL_CHARS + 64;
  private static final Set<AttributeKey<?>> URL_KEYS =
      Set.of(UrlAttributes.URL_FULL, UrlAttributes.URL_PATH, UrlAttributes.URL_QUERY);

  private final SpanFactory spans =
      new SpanFactory(c -> Resource.empty(), PeerResolver.NONE, MonotonicClock.system());
  private final CharsetEncoder utf8 =
      StandardCharsets.UTF_8
          .newEncoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT);

  /**
   * Checks one ended exchange.
   *
   * @param forbidden strings that must appear in no field (credential values, body markers)
   * @param forbiddenInSpan strings that must appear in no span attribute (secret query values,
   *     which the exchange keeps in its target and the span stage redacts)
   */
  void check(HttpExchange x, List<String> forbidden, List<String> forbiddenInSpan) {
    assertThat(x.method()).as("method").isNotEmpty().hasSizeLessThanOrEqualTo(MessageStart.MAX_METHOD_BYTES);
    for (int i = 0; i < x.method().length(); i++) {
      assertThat(isTchar(x.method().charAt(i))).as("method %s is a token", x.method()).isTrue();
    }
    assertThat(x.target()).as("target").isNotEmpty()
        .hasSizeLessThanOrEqualTo(ConnectionTracker.MAX_TARGET_CHARS);
    assertPrintable("target", x.target());
    assertThat(x.protocolVersion()).hasSizeLessThanOrEqualTo(MAX_VERSION_CHARS);
    assertPrintable("version", x.protocolVersion());
    for (String v : new String[] {x.host(), x.userAgent(), x.traceparent(), x.tracestate()}) {
      if (v != null) {
        assertThat(v).hasSizeLessThanOrEqualTo(ConnectionTracker.MAX_HEADER_VALUE_CHARS);
        assertPrintable("header value", v);
      }
    }
    int status = x.statusCode();
    assertThat(status == 0 || (status >= MIN_STATUS_CODE && status <= MAX_STATUS_CODE))
        .as("status %d", status)
        .isTrue();
    assertThat(x.requestBodySize()).isNotNegative();
    assertThat(x.responseBodySize()).isNotNegative();
    assertThat(x.requestEndNanos()).as("request end").isGreaterThanOrEqualTo(x.requestStartNanos());
    assertThat(x.responseEndNanos()).as("response end").isGreaterThanOrEqualTo(x.requestStartNanos());
    if (x.outcome() != HttpExchange.Outcome.COMPLETE) {
      assertThat(x.responseEndNanos()).isGreaterThanOrEqualTo(x.requestEndNanos());
    }
    for (String secret : forbidden) {
      for (String v :
          new String[] {x.method(), x.target(), x.host(), x.userAgent(), x.traceparent(),
              x.tracestate()}) {
        if (v != null) {
          assertThat(v).as("exchange field").doesNotContain(secret);
        }
      }
    }
    List<String> all = new java.util.ArrayList<>(forbidden);
    all.addAll(forbiddenInSpan);
    checkSpan(spans.toSpan(x), all);
  }

  private void checkSpan(SpanData span, List<String> forbidden) {
    assertThat(span.getName()).hasSizeLessThanOrEqualTo(MAX_SPAN_NAME_CHARS);
    assertUtf8("span name", span.getName());
    span.getAttributes()
        .forEach(
            (key, value) -> {
              if (key.getType() != AttributeType.STRING) {
                return;
              }
              String s = (String) value;
              int cap = URL_KEYS.contains(key) ? SpanFactory.MAX_URL_CHARS : SpanFactory.MAX_VALUE_CHARS;
              assertThat(s).as("attribute %s", key).hasSizeLessThanOrEqualTo(cap);
              assertUtf8(key.getKey(), s);
              for (String secret : forbidden) {
                assertThat(s).as("attribute %s", key).doesNotContain(secret);
              }
            });
  }

  private void assertUtf8(String what, String s) {
    try {
      utf8.reset().encode(CharBuffer.wrap(s));
    } catch (CharacterCodingException e) {
      throw new AssertionError(what + " is not valid UTF-16/UTF-8: " + escape(s), e);
    }
  }

  /** No C0 control character (tab aside), no DEL, no lone surrogate. */
  private void assertPrintable(String what, @Nullable String s) {
    if (s == null) {
      return;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean control = (c < ' ' && c != '\t') || c == 0x7f;
      assertThat(control).as("%s has a control character: %s", what, escape(s)).isFalse();
    }
    assertUtf8(what, s);
  }

  static String escape(String s) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < ' ' || c >= 0x7f) {
        b.append(String.format("\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  static boolean isTchar(char c) {
    return (c >= 'a' && c <= 'z')
        || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9')
        || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
  }
}
