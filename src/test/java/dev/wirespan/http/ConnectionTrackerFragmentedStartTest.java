package dev.wirespan.http;

import static dev.wirespan.http.Conversation.ascii;
import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.http.Conversation.Party;
import dev.wirespan.metrics.LossCause;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Message starts that arrive in small pieces: peers that read or write a byte per syscall (a
 * byte-wise header reader), a status line written apart from the rest, on connections seen from
 * their first byte and on connections first seen mid-stream.
 */
class ConnectionTrackerFragmentedStartTest {
  /** Stream offsets of a connection that carried traffic before capture started. */
  private static final long EARLIER_REQUEST_BYTES = 517;
  private static final long EARLIER_RESPONSE_BYTES = 1234;

  private static final String REQUEST =
      "GET /early/after HTTP/1.1\r\nHost: h\r\nUser-Agent: byte-reader\r\n\r\n";
  private static final String RESPONSE =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
  private static final String NEXT_REQUEST = "POST /next HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  private static final String NEXT_RESPONSE = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";


  static Stream<Arguments> sidesAndRoles() {
    return Stream.of(
        Arguments.of(HttpExchange.Side.SERVER, CaptureEvent.ConnectionRole.UNKNOWN),
        Arguments.of(HttpExchange.Side.SERVER, CaptureEvent.ConnectionRole.SERVER),
        Arguments.of(HttpExchange.Side.CLIENT, CaptureEvent.ConnectionRole.UNKNOWN),
        Arguments.of(HttpExchange.Side.CLIENT, CaptureEvent.ConnectionRole.CLIENT));
  }

  private static void assertFirst(HttpExchange x, HttpExchange.Side side) {
    assertThat(x.side()).isEqualTo(side);
    assertThat(x.method()).isEqualTo("GET");
    assertThat(x.target()).isEqualTo("/early/after");
    assertThat(x.userAgent()).isEqualTo("byte-reader");
    assertThat(x.statusCode()).isEqualTo(200);
    assertThat(x.responseBodySize()).isEqualTo(5);
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(x.bytesMissing()).isFalse();
  }

  private static void assertNext(HttpExchange x, HttpExchange.Side side) {
    assertThat(x.side()).isEqualTo(side);
    assertThat(x.method()).isEqualTo("POST");
    assertThat(x.target()).isEqualTo("/next");
    assertThat(x.requestBodySize()).isEqualTo(3);
    assertThat(x.statusCode()).isEqualTo(201);
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(x.bytesMissing()).isFalse();
  }

  /** The exchange is timed from the events that carried its messages' first bytes. */
  private static void assertTimedFromFirstBytes(
      HttpExchange x, Wire wire, long requestOffset, long responseOffset) {
    Wire.Sent requestStart = wire.carrying(Party.REQUESTS, requestOffset);
    Wire.Sent responseStart = wire.carrying(Party.RESPONSES, responseOffset);
    assertThat(x.requestStartNanos()).isEqualTo(requestStart.timestampNanos());
    assertThat(x.requestTid()).isEqualTo(requestStart.tid());
    assertThat(x.responseStartNanos()).isEqualTo(responseStart.timestampNanos());
    assertThat(x.responseTid()).isEqualTo(responseStart.tid());
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void byteWiseConversationSeenFromItsStart(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1), 0, 0);
    s.byteWise(Party.REQUESTS, REQUEST);
    s.byteWise(Party.RESPONSES, RESPONSE);
    s.byteWise(Party.REQUESTS, NEXT_REQUEST);
    s.byteWise(Party.RESPONSES, NEXT_RESPONSE);

    assertThat(run.listener.ended).hasSize(2);
    assertFirst(run.listener.ended.get(0), side);
    assertTimedFromFirstBytes(run.listener.ended.get(0), s.wire, 0, 0);
    assertNext(run.listener.ended.get(1), side);
    run.assertLosses("byte-wise from the start", Map.of());
    run.finish("byte-wise from the start");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void byteWiseResponseSeenFromItsStartBeforeAnyRequestByte(HttpExchange.Side side) {
    // The request's events were lost; the role tells the direction from one response byte.
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1), 0, 0);
    s.requests += ascii(REQUEST).length;
    s.byteWise(Party.RESPONSES, RESPONSE);
    s.byteWise(Party.REQUESTS, NEXT_REQUEST);
    s.byteWise(Party.RESPONSES, NEXT_RESPONSE);

    assertThat(run.listener.ended).hasSize(1);
    assertNext(run.listener.ended.get(0), side);
    run.assertLosses(
        "byte-wise response first",
        Map.of(LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L));
    run.finish("byte-wise response first");
  }

  @ParameterizedTest(name = "{0}, role {1}: request {2}")
  @MethodSource("midStreamCases")
  void byteWiseResponseOnAConnectionFirstSeenMidStream(
      HttpExchange.Side side, CaptureEvent.ConnectionRole role, boolean requestByteWise) {
    TrackerRun run = new TrackerRun();
    // Opened before capture started: one exchange already completed on it.
    Wire wire = new Wire(run.tracker, side, 1, role);
    Streams s = new Streams(wire, EARLIER_REQUEST_BYTES, EARLIER_RESPONSE_BYTES);
    if (requestByteWise) {
      s.byteWise(Party.REQUESTS, REQUEST);
    } else {
      s.whole(Party.REQUESTS, REQUEST);
    }
    s.byteWise(Party.RESPONSES, RESPONSE);
    s.byteWise(Party.REQUESTS, NEXT_REQUEST);
    s.byteWise(Party.RESPONSES, NEXT_RESPONSE);
    run.tracker.closeAll();

    assertThat(run.listener.ended).hasSize(2);
    assertFirst(run.listener.ended.get(0), side);
    assertTimedFromFirstBytes(
        run.listener.ended.get(0), wire, EARLIER_REQUEST_BYTES, EARLIER_RESPONSE_BYTES);
    assertNext(run.listener.ended.get(1), side);
    run.assertLosses("byte-wise mid-stream", Map.of());
    run.finish("byte-wise mid-stream");
  }

  static Stream<Arguments> midStreamCases() {
    return sidesAndRoles()
        .flatMap(a -> Stream.of(true, false).map(b -> Arguments.of(a.get()[0], a.get()[1], b)));
  }

  @ParameterizedTest(name = "{0}, role {1}")
  @MethodSource("sidesAndRoles")
  void statusLineSplitAcrossThreeEventsBeforeTheDirectionIsKnown(
      HttpExchange.Side side, CaptureEvent.ConnectionRole role) {
    TrackerRun run = new TrackerRun();
    Wire wire = new Wire(run.tracker, side, 1, role);
    Streams s = new Streams(wire, EARLIER_REQUEST_BYTES, EARLIER_RESPONSE_BYTES);
    // The first bytes seen answer a request sent before capture started.
    byte[] response = ascii("HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope");
    s.send(Party.RESPONSES, response, 6, 4, response.length - 10); // "HTTP/1" ".1 4" "04 Not..."
    s.whole(Party.REQUESTS, NEXT_REQUEST);
    s.whole(Party.RESPONSES, NEXT_RESPONSE);

    assertThat(run.listener.ended).hasSize(1);
    assertNext(run.listener.ended.get(0), side);
    // The split status line was recognised: that response was decoded (and had nothing to pair).
    run.assertLosses(
        "split status line", Map.of(LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L));
    run.finish("split status line");
  }

  @ParameterizedTest(name = "{0}, role {1}")
  @MethodSource("sidesAndRoles")
  void statusLineSplitAcrossThreeEventsAfterPipelinedRequests(
      HttpExchange.Side side, CaptureEvent.ConnectionRole role) {
    TrackerRun run = new TrackerRun();
    Wire wire = new Wire(run.tracker, side, 1, role);
    Streams s = new Streams(wire, EARLIER_REQUEST_BYTES, EARLIER_RESPONSE_BYTES);
    // Two requests in one write: the response direction must recognise its message start.
    s.whole(Party.REQUESTS, REQUEST + NEXT_REQUEST);
    byte[] response = ascii(RESPONSE);
    s.send(Party.RESPONSES, response, 3, 7, response.length - 10); // "HTT" "P/1.1 2" "00 OK..."
    s.whole(Party.RESPONSES, NEXT_RESPONSE);

    assertThat(run.listener.ended).hasSize(2);
    assertFirst(run.listener.ended.get(0), side);
    assertTimedFromFirstBytes(
        run.listener.ended.get(0), wire, EARLIER_REQUEST_BYTES, EARLIER_RESPONSE_BYTES);
    assertNext(run.listener.ended.get(1), side);
    run.assertLosses("pipelined, split status line", Map.of());
    run.finish("pipelined, split status line");
  }

  @ParameterizedTest(name = "{0}, role {1}")
  @MethodSource("sidesAndRoles")
  void byteWiseBodyTailOfAnUnseenRequestMakesNoExchange(
      HttpExchange.Side side, CaptureEvent.ConnectionRole role) {
    TrackerRun run = new TrackerRun();
    Wire wire = new Wire(run.tracker, side, 1, role);
    Streams s = new Streams(wire, EARLIER_REQUEST_BYTES, EARLIER_RESPONSE_BYTES);
    // The end of a text body whose request line was sent before capture started: its words look
    // like a method and a target for a while, never like a whole request line.
    s.byteWise(Party.REQUESTS, "hello world and more text GET /fake; POST /x HTTP/2.0\r\n");
    s.byteWise(Party.RESPONSES, RESPONSE);
    s.byteWise(Party.REQUESTS, NEXT_REQUEST);
    s.byteWise(Party.RESPONSES, NEXT_RESPONSE);

    assertThat(run.listener.started).hasSize(1);
    assertThat(run.listener.ended).hasSize(1);
    assertNext(run.listener.ended.get(0), side);
    run.assertLosses(
        "body tail first", Map.of(LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L));
    run.finish("body tail first");
  }

  @ParameterizedTest(name = "{0}, role {1}")
  @MethodSource("sidesAndRoles")
  void responseBytesThatCannotStartAResponseAreCountedAndPairingRecovers(
      HttpExchange.Side side, CaptureEvent.ConnectionRole role) {
    TrackerRun run = new TrackerRun();
    Wire wire = new Wire(run.tracker, side, 1, role);
    Streams s = new Streams(wire, EARLIER_REQUEST_BYTES, EARLIER_RESPONSE_BYTES);
    s.whole(Party.REQUESTS, REQUEST);
    // Not what an in-order peer sends: the response direction's next bytes, where the response
    // must begin, cannot begin one. They are counted and not decoded; the response that follows
    // is the answer.
    s.whole(Party.RESPONSES, "tail of something else\r\n");
    s.whole(Party.RESPONSES, RESPONSE);
    s.whole(Party.REQUESTS, NEXT_REQUEST);
    s.whole(Party.RESPONSES, NEXT_RESPONSE);

    assertThat(run.listener.ended).hasSize(2);
    HttpExchange x = run.listener.ended.get(0);
    assertThat(x.target()).isEqualTo("/early/after");
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(x.statusCode()).isEqualTo(200);
    assertNext(run.listener.ended.get(1), side);
    run.assertLosses("not a response", Map.of(LossCause.STREAM_DECODER_ERROR, 1L));
    run.finish("not a response");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void requestDirectionIsAtAMessageBoundaryOnceEveryRequestWasAnswered(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1), 0, 0);
    s.whole(Party.REQUESTS, REQUEST);
    // A pipelined request whose first event was lost: the request direction resyncs.
    int lost = "POST /ne".length();
    s.lose(Party.REQUESTS, lost);
    s.whole(Party.REQUESTS, NEXT_REQUEST.substring(lost));
    s.whole(Party.RESPONSES, RESPONSE);
    s.whole(Party.RESPONSES, NEXT_RESPONSE);
    // The empty line some clients send before a request: the decoder skips it, so only the
    // request direction being at a boundary (not the look of its first bytes) finds this start.
    s.whole(Party.REQUESTS, "\r\nGET /third HTTP/1.1\r\nHost: h\r\n\r\n");
    s.whole(Party.RESPONSES, "HTTP/1.1 204 No Content\r\n\r\n");

    assertThat(run.listener.ended).hasSize(2);
    assertFirst(run.listener.ended.get(0), side);
    HttpExchange third = run.listener.ended.get(1);
    assertThat(third.target()).isEqualTo("/third");
    assertThat(third.statusCode()).isEqualTo(204);
    assertThat(third.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    run.assertLosses(
        "boundary after completion",
        Map.of(
            LossCause.STREAM_GAP, 1L,
            LossCause.STREAM_RESYNC, 1L,
            LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L));
    run.finish("boundary after completion");
  }

  @ParameterizedTest
  @EnumSource(CaptureEvent.ConnectionRole.class)
  void aBodyTailRunningIntoTheNextRequestIsNotTakenForItsMethod(CaptureEvent.ConnectionRole role) {
    // Picked up mid-stream: the last bytes of a body ("...xyz") look like the start of a method,
    // and the next write's "GET /" would continue it as "xyzGET". The known method shows where
    // the request begins; a fragmented known method ("P" then "UT /") still joins up.
    for (String[] writes :
        new String[][] {{"body-xyz", "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"},
          {"P", "UT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"}}) {
      TrackerRun run = new TrackerRun();
      Wire w = new Wire(run.tracker, HttpExchange.Side.SERVER, 1, role);
      long offset = 5000;
      for (String text : writes) {
        byte[] b = ascii(text);
        w.data(Party.REQUESTS, offset, b, 0, b.length);
        offset += b.length;
      }
      byte[] ok = ascii("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      w.data(Party.RESPONSES, 7000, ok, 0, ok.length);
      byte[] next = ascii("GET /next HTTP/1.1\r\n\r\n");
      w.data(Party.REQUESTS, offset, next, 0, next.length);
      w.data(Party.RESPONSES, 7000 + ok.length, ok, 0, ok.length);
      String method = writes[0].equals("P") ? "PUT" : "GET";
      assertThat(run.listener.ended).extracting(HttpExchange::method).as(role + " " + writes[0])
          .containsExactly(method, "GET");
      assertThat(run.listener.ended).extracting(HttpExchange::statusCode).containsExactly(200, 200);
      run.finish(role.name());
    }
  }

  static Stream<Arguments> sidesAndAnswerOrders() {
    return Stream.of(
        Arguments.of(HttpExchange.Side.SERVER, false),
        Arguments.of(HttpExchange.Side.SERVER, true),
        Arguments.of(HttpExchange.Side.CLIENT, false),
        Arguments.of(HttpExchange.Side.CLIENT, true));
  }

  @ParameterizedTest(name = "{0}, answered before its body {1}")
  @MethodSource("sidesAndAnswerOrders")
  void aRequestLostInItsHeadersKeepsItsBodyFromBeingDecodedAsTheNextRequest(
      HttpExchange.Side side, boolean answeredBeforeItsBody) {
    // The second request's header block is over the limit (a decoder error); its body, token
    // bytes that would run into the next request's method, follows. Pipelined, the first
    // request's answer comes before that body: answers to the requests seen do not put the request
    // direction at a boundary. Or the server answers the failed request at once (431) before its
    // body was sent: its answer does, but a body's token bytes do not begin a request on
    // causality alone. Either way the next request is found by its own look.
    TrackerRun run = new TrackerRun(HttpSettings.builder().setMaxHeaderBytes(256).build());
    Streams s = new Streams(run.wire(side, 1), 0, 0);
    String body = "BODY-SECRETq";
    String big =
        "POST /big HTTP/1.1\r\nHost: h\r\nCookie: " + "c".repeat(400)
            + "\r\nContent-Length: " + body.length() + "\r\n\r\n";
    String tooLarge = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n";
    s.whole(Party.REQUESTS, REQUEST);
    if (answeredBeforeItsBody) {
      s.whole(Party.RESPONSES, RESPONSE);
      s.whole(Party.REQUESTS, big);
      s.whole(Party.RESPONSES, tooLarge);
      s.whole(Party.REQUESTS, body);
    } else {
      s.whole(Party.REQUESTS, big);
      s.whole(Party.RESPONSES, RESPONSE);
      s.whole(Party.REQUESTS, body);
      s.whole(Party.RESPONSES, tooLarge);
    }
    s.whole(Party.REQUESTS, "GET /third HTTP/1.1\r\nHost: h\r\n\r\n");
    s.whole(Party.RESPONSES, "HTTP/1.1 204 No Content\r\n\r\n");

    assertThat(run.listener.ended).extracting(HttpExchange::method).containsExactly("GET", "GET");
    assertFirst(run.listener.ended.get(0), side);
    HttpExchange third = run.listener.ended.get(1);
    assertThat(third.target()).isEqualTo("/third");
    assertThat(third.statusCode()).isEqualTo(204);
    assertThat(third.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    run.assertLosses(
        "request lost in its headers",
        Map.of(
            LossCause.STREAM_DECODER_ERROR, 1L,
            LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L));
    run.finish("request lost in its headers");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void emptyLinesWhereARequestMustBeginLeaveItsStartToTheNextEvent(HttpExchange.Side side) {
    // As in the test above, the direction is at a boundary once the lost request was answered.
    // A write of empty lines alone does not begin the request: the next write still does, though
    // its own first bytes (more empty lines) would not say so.
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1), 0, 0);
    s.whole(Party.REQUESTS, REQUEST);
    int lost = "POST /ne".length();
    s.lose(Party.REQUESTS, lost);
    s.whole(Party.REQUESTS, NEXT_REQUEST.substring(lost));
    s.whole(Party.RESPONSES, RESPONSE);
    s.whole(Party.RESPONSES, NEXT_RESPONSE);
    s.whole(Party.REQUESTS, "\r\n");
    s.whole(Party.REQUESTS, "\r\nGET /third HTTP/1.1\r\nHost: h\r\n\r\n");
    s.whole(Party.RESPONSES, "HTTP/1.1 204 No Content\r\n\r\n");

    assertThat(run.listener.ended).extracting(HttpExchange::target)
        .containsExactly("/early/after", "/third");
    run.finish("empty lines");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void bodyBytesWhereARequestMustBeginAreNotDecodedAsOne(HttpExchange.Side side) {
    // The client sent a body its request did not announce: the decoder reads it and the next
    // request line as one "method" ("BODY-SECRET-...POST"). Too long for a method, it is counted
    // and the request is lost with it; its answer tells where the one after it begins.
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1), 0, 0);
    s.whole(Party.REQUESTS, REQUEST);
    s.whole(Party.RESPONSES, RESPONSE);
    s.whole(Party.REQUESTS, "BODY-SECRET-".repeat(4));
    s.whole(Party.REQUESTS, NEXT_REQUEST);
    s.whole(Party.RESPONSES, NEXT_RESPONSE);
    s.whole(Party.REQUESTS, "GET /third HTTP/1.1\r\nHost: h\r\n\r\n");
    s.whole(Party.RESPONSES, "HTTP/1.1 204 No Content\r\n\r\n");

    assertThat(run.listener.ended).hasSize(2);
    assertFirst(run.listener.ended.get(0), side);
    assertThat(run.listener.ended.get(1).target()).isEqualTo("/third");
    assertThat(run.listener.ended.get(1).statusCode()).isEqualTo(204);
    run.assertLosses(
        "unannounced body",
        Map.of(
            LossCause.STREAM_DECODER_ERROR, 1L,
            LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L));
    run.finish("unannounced body");
  }
}
