package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.metrics.LossCause;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Request smuggling shapes and other ambiguous framing: the tracker decodes them the way Netty's
 * strict decoder decides, and the connection stays in step. Netty 4.2 rejects every ambiguous
 * framing (a decoder error, counted as STREAM_DECODER_ERROR); the rejected request never becomes
 * an exchange, its response is counted as PAIRING_RESPONSE_WITHOUT_REQUEST, and decoding restarts
 * at the next write that begins a request, so the next exchange is decoded and paired right.
 */
class ConnectionTrackerSmugglingTest {
  private static final String OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  private static final String BAD_REQUEST = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

  /** Shapes Netty's decoder rejects: no exchange, one decoder error, the connection recovers. */
  static Stream<Arguments> rejected() {
    return Stream.of(
        shape("Content-Length and Transfer-Encoding",
            "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        shape("Transfer-Encoding and Content-Length",
            "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        shape("two different Content-Length headers",
            "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        shape("Content-Length list", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello"),
        shape("Transfer-Encoding: chunked, identity",
            "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        shape("Transfer-Encoding: identity with Content-Length",
            "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello"),
        shape("bare LF line endings", "GET /a HTTP/1.1\nHost: h\nUser-Agent: lf\n\n"),
        shape("one bare LF among CRLFs", "GET /a HTTP/1.1\r\nHost: h\nUser-Agent: mixed\r\n\r\n"),
        shape("negative Content-Length", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"),
        shape("overflowing Content-Length",
            "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\nhello"),
        shape("whitespace before colon", "GET /a HTTP/1.1\r\nHost : h\r\n\r\n"),
        shape("whitespace before the colon of a field nobody reads",
            "POST /a HTTP/1.1\r\nHost: h\r\nContent-Lengthy : 5\r\n\r\n"),
        shape("whitespace inside a field name", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length x: 5\r\n\r\n"),
        shape("a lone CR in a field nobody reads",
            "POST /a HTTP/1.1\r\nHost: h\r\nX: a\rContent-Length: 5\r\n\r\nhello"),
        shape("NUL in a header value", "GET /a HTTP/1.1\r\nHost: h\r\nUser-Agent: a\0b\r\n\r\n"),
        shape("NUL in a header name", "GET /a HTTP/1.1\r\nHost: h\r\nX\0Y: a\r\n\r\n"));
  }

  private static Arguments shape(String name, String request) {
    return Arguments.of(name, request);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rejected")
  void ambiguousFramingIsRejectedCountedAndTheConnectionRecovers(String name, String request) {
    for (HttpExchange.Side side : HttpExchange.Side.values()) {
      TrackerRun run = new TrackerRun();
      Streams s = new Streams(run.wire(side, 1));
      s.exchange("GET /first HTTP/1.1\r\nHost: h\r\n\r\n", OK);
      s.exchange(request, BAD_REQUEST);
      s.exchange("GET /next HTTP/1.1\r\nHost: h\r\n\r\n", OK);

      assertThat(run.listener.ended).extracting(HttpExchange::target)
          .as("%s %s", side, name)
          .containsExactly("/first", "/next");
      run.listener.ended.forEach(ConnectionTrackerSmugglingTest::assertWhole);
      run.assertLosses(side + " " + name, Map.of(
          LossCause.STREAM_DECODER_ERROR, 1L,
          LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L));
      run.finish(name);
    }
  }

  @Test
  void aMalformedNameOfAFieldNobodyReadsIsIgnoredAsNginxIgnoresIt() {
    // The server served it: the exchange is reported, the field is not stored.
    decodedThenNext(
        "GET /a HTTP/1.1\r\nHost: h\r\nX@Y: a\r\nBad{Name}: b\r\nUser-Agent: u\r\n\r\n",
        x -> {
          assertThat(x.userAgent()).isEqualTo("u");
          assertThat(x.statusCode()).isEqualTo(200);
        },
        Map.of());
  }

  @Test
  void obsFoldContinuationIsJoinedAsNettyDoes() {
    decodedThenNext(
        "GET /a HTTP/1.1\r\nHost: h\r\nUser-Agent: one\r\n two\r\n\r\n",
        x -> assertThat(x.userAgent()).isEqualTo("one two"),
        Map.of());
  }

  @Test
  void absurdChunkSizeCutsTheRequestButPairsItsResponse() {
    // Netty refuses a chunk size beyond Integer.MAX_VALUE: the request's headers were decoded,
    // so the exchange is reported with its response, marked incomplete.
    decodedThenNext(
        "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "ffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        x -> {
          assertThat(x.method()).isEqualTo("POST");
          assertThat(x.bytesMissing()).isTrue();
          assertThat(x.statusCode()).isEqualTo(200);
          assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
        },
        Map.of(LossCause.STREAM_DECODER_ERROR, 1L));
  }

  @Test
  void absurdChunkSizeInAResponseEvictsItsExchange() {
    for (HttpExchange.Side side : HttpExchange.Side.values()) {
      TrackerRun run = new TrackerRun();
      Streams s = new Streams(run.wire(side, 1));
      s.exchange(
          "GET /a HTTP/1.1\r\nHost: h\r\n\r\n",
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nhello\r\n0\r\n\r\n");
      s.exchange("GET /next HTTP/1.1\r\nHost: h\r\n\r\n", OK);
      List<HttpExchange> ended = run.listener.ended;
      assertThat(ended).extracting(HttpExchange::target).containsExactly("/a", "/next");
      assertThat(ended.get(0).outcome()).isEqualTo(HttpExchange.Outcome.EVICTED);
      assertThat(ended.get(0).statusCode()).isEqualTo(200);
      assertThat(ended.get(0).bytesMissing()).isTrue();
      assertWhole(ended.get(1));
      run.assertLosses(side.name(), Map.of(LossCause.STREAM_DECODER_ERROR, 1L));
      run.finish(side.name());
    }
  }

  @Test
  void aStatusCodeWithoutThreeDigitsIsADecoderError() {
    // Netty parses "4" as status 4; no such status exists, so the response is malformed.
    for (HttpExchange.Side side : HttpExchange.Side.values()) {
      TrackerRun run = new TrackerRun();
      Streams s = new Streams(run.wire(side, 1));
      s.exchange("GET /a HTTP/1.1\r\nHost: h\r\n\r\n", "HTTP/1.1 4 OK\r\nContent-Length: 2\r\n\r\nok");
      s.exchange("GET /next HTTP/1.1\r\nHost: h\r\n\r\n", OK);
      List<HttpExchange> ended = run.listener.ended;
      assertThat(ended).extracting(HttpExchange::target).containsExactly("/a", "/next");
      assertThat(ended.get(0).statusCode()).isZero();
      assertThat(ended.get(0).outcome()).isEqualTo(HttpExchange.Outcome.EVICTED);
      assertThat(ended.get(0).bytesMissing()).isTrue();
      assertWhole(ended.get(1));
      run.assertLosses(side.name(), Map.of(LossCause.STREAM_DECODER_ERROR, 1L));
      run.finish(side.name());
    }
  }

  @Test
  void controlCharactersInATargetArePercentEncoded() {
    decodedThenNext(
        "GET /a\u0001b HTTP/1.1\r\nHost: h\r\n\r\n",
        x -> assertThat(x.target()).isEqualTo("/a%01b"),
        Map.of());
  }

  @Test
  void aRejectedRequestTakesTheRestOfItsWriteWithIt() {
    // Netty discards everything after a failure, so a request pipelined in the same write is lost
    // too (its response counted as unmatched); decoding restarts at the next write.
    for (HttpExchange.Side side : HttpExchange.Side.values()) {
      TrackerRun run = new TrackerRun();
      Streams s = new Streams(run.wire(side, 1));
      s.exchange(
          "GET /a HTTP/1.1\r\nHost : h\r\n\r\nGET /pipelined HTTP/1.1\r\nHost: h\r\n\r\n",
          BAD_REQUEST + OK);
      s.exchange("GET /next HTTP/1.1\r\nHost: h\r\n\r\n", OK);
      assertThat(run.listener.ended).extracting(HttpExchange::target).containsExactly("/next");
      run.assertLosses(side.name(), Map.of(
          LossCause.STREAM_DECODER_ERROR, 1L,
          LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 2L));
      run.finish(side.name());
    }
  }

  @Test
  void aFirstRequestLineWithNulMarksTheConnectionNotHttp() {
    // At a stream's start the request line is tested before Netty sees it: bytes that cannot
    // begin a request or a response mean the connection is not HTTP/1.x. It is dropped for good
    // and counted; nothing is reported for it.
    for (HttpExchange.Side side : HttpExchange.Side.values()) {
      TrackerRun run = new TrackerRun();
      Streams s = new Streams(run.wire(side, 1));
      s.exchange("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n", OK);
      s.exchange("GET /next HTTP/1.1\r\nHost: h\r\n\r\n", OK);
      assertThat(run.listener.ended).isEmpty();
      assertThat(run.metrics.total("wirespan_http_untracked_connections_total")).isEqualTo(1);
      run.finish(side.name());
    }
  }

  private static void decodedThenNext(
      String request, Consumer<HttpExchange> check, Map<LossCause, Long> losses) {
    for (HttpExchange.Side side : HttpExchange.Side.values()) {
      TrackerRun run = new TrackerRun();
      Streams s = new Streams(run.wire(side, 1));
      s.exchange("GET /first HTTP/1.1\r\nHost: h\r\n\r\n", OK);
      s.exchange(request, OK);
      s.exchange("GET /next HTTP/1.1\r\nHost: h\r\n\r\n", OK);
      List<HttpExchange> ended = run.listener.ended;
      assertThat(ended).as(side.name()).hasSize(3);
      assertThat(ended.get(0).target()).isEqualTo("/first");
      check.accept(ended.get(1));
      assertThat(ended.get(2).target()).isEqualTo("/next");
      assertWhole(ended.get(2));
      run.assertLosses(side.name(), losses);
      run.finish(side.name());
    }
  }

  private static void assertWhole(HttpExchange x) {
    assertThat(x.method()).isEqualTo("GET");
    assertThat(x.statusCode()).isEqualTo(200);
    assertThat(x.responseBodySize()).isEqualTo(2);
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(x.bytesMissing()).isFalse();
  }

}
