package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.LastHttpContent;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Netty's request decoder with {@link NeededHeaders}: framing intact, unread fields not kept. */
class NeededHeadersTest {
  private static EmbeddedChannel decoder() {
    return new EmbeddedChannel(
        new HttpRequestDecoder(new HttpDecoderConfig().setHeadersFactory(NeededHeaders.FACTORY)));
  }

  private static boolean isKept(String name) {
    return NeededHeaders.kept(name) != null;
  }

  /** The request decoded from {@code text} (the channel finished and released). */
  private static HttpRequest decodeRequest(String text) {
    EmbeddedChannel ch = decoder();
    ch.writeInbound(Unpooled.copiedBuffer(text, StandardCharsets.ISO_8859_1));
    HttpRequest request = ch.readInbound();
    ch.finishAndReleaseAll();
    return request;
  }

  private static final String BROWSER_POST =
      "POST /cart?id=7 HTTP/1.1\r\n"
          + "Host: shop.example:8080\r\n"
          + "User-Agent: Mozilla/5.0\r\n"
          + "Accept: text/html,application/xhtml+xml\r\n"
          + "Accept-Language: en-GB,en;q=0.9\r\n"
          + "Cookie: session=secret\r\n"
          + "Sec-Fetch-Mode: navigate\r\n"
          + "TraceParent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
          + "tracestate: vendor=1\r\n"
          + "Transfer-Encoding: chunked\r\n"
          + "\r\n"
          + "5\r\nhello\r\n0\r\n\r\n";

  @Test
  void keepsWhatTheSpanAndTheFramingReadAndDropsTheRest() {
    EmbeddedChannel ch = decoder();
    ch.writeInbound(Unpooled.copiedBuffer(BROWSER_POST, StandardCharsets.ISO_8859_1));
    HttpRequest request = ch.readInbound();
    assertThat(request.decoderResult().isSuccess()).isTrue();
    assertThat(request.headers().get("host")).isEqualTo("shop.example:8080");
    assertThat(request.headers().get("user-agent")).isEqualTo("Mozilla/5.0");
    assertThat(request.headers().get("traceparent"))
        .isEqualTo("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    assertThat(request.headers().get("tracestate")).isEqualTo("vendor=1");
    // Kept under the lowercase names every reader looks them up with, whatever the wire's case.
    assertThat(request.headers().names())
        .containsExactlyInAnyOrder("host", "user-agent", "traceparent", "tracestate", "transfer-encoding");
    assertThat(request.headers().get("TRACEPARENT")).isEqualTo(request.headers().get("traceparent"));
    HttpContent body = ch.readInbound();
    assertThat(body.content().toString(StandardCharsets.ISO_8859_1)).isEqualTo("hello");
    body.release();
    LastHttpContent last = ch.readInbound();
    assertThat(last).isNotNull();
    last.release();
    assertThat(ch.finish()).isFalse();
  }

  @Test
  void aMalformedFieldNobodyReadsDoesNotCostTheMessage() {
    // nginx ignores such fields and serves the request; the agent must not lose the exchange.
    for (String field : new String[] {"X@Y: 1", "Bad{Name}: 1", "Accept: a\u0001b", "X_Y: 1"}) {
      HttpRequest request =
          decodeRequest("GET / HTTP/1.1\r\nHost: a\r\n" + field + "\r\nUser-Agent: u\r\n\r\n");
      assertThat(request.decoderResult().isSuccess()).as(field).isTrue();
      assertThat(request.headers().get(HttpHeaderNames.HOST)).isEqualTo("a");
      assertThat(request.headers().get(HttpHeaderNames.USER_AGENT)).isEqualTo("u");
      assertThat(request.headers().size()).isEqualTo(2);
    }
  }

  @Test
  void aFieldNobodyReadsFailsTheMessageWhereNginxRefusesIt() {
    // Control characters, whitespace or DEL in a name; NUL or CR in a value: nginx answers 400,
    // and each can hide a framing field from a parser that splits there.
    for (String field :
        new String[] {
          "X-Bad\u0000Name: 1",
          "X Y: 1",
          "Content-Length x: 5",
          "Transfer-Encoding\u000b: chunked",
          "X\u007fY: 1",
          "X: a\rContent-Length: 5",
          "X: a\u0000b",
        }) {
      HttpRequest request = decodeRequest("GET / HTTP/1.1\r\nHost: a\r\n" + field + "\r\n\r\n");
      assertThat(request.decoderResult().isFailure()).as(field).isTrue();
    }
  }

  @Test
  void aMalformedFieldThatDecidesFramingStillFailsTheMessage() {
    for (String field : new String[] {"Content-Length: 1x", "Content-Length: 1\r\nContent-Length: 2"}) {
      HttpRequest request = decodeRequest("POST / HTTP/1.1\r\nHost: a\r\n" + field + "\r\n\r\nx");
      assertThat(request.decoderResult().isFailure()).as(field).isTrue();
    }
  }

  @Test
  void namesMatchWhateverTheirCase() {
    assertThat(isKept("HOST")).isTrue();
    assertThat(isKept("content-length")).isTrue();
    assertThat(isKept("Content-Type")).isFalse();
    assertThat(isKept("hosts")).isFalse();
    assertThat(isKept("TraceParent")).isTrue();
    assertThat(isKept("USER-agent")).isTrue();
    assertThat(isKept("Sec-WebSocket-Accept")).isTrue();
    // Same length and first letter as a kept name, or same length as two of them.
    assertThat(isKept("hose")).isFalse();
    assertThat(isKept("Connectiom")).isFalse();
    assertThat(isKept("user-agenT ")).isFalse();
    // Only letters fold: a CR is not '-' (CR | 0x20 is '-'), a control character not a digit.
    assertThat(isKept("content\rlength")).isFalse();
    assertThat(isKept("sec-websocket-key\u0011")).isFalse();
    assertThat(isKept("SEC-WEBSOCKET-KEY1")).isTrue();
    assertThat(isKept("\u0168ser-agent")).isFalse();
    assertThat(isKept("")).isFalse();
    assertThat(isKept("x".repeat(100))).isFalse();
  }
}
