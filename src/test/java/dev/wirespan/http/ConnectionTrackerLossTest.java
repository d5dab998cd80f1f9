package dev.wirespan.http;

import static dev.wirespan.http.Conversation.ascii;
import static dev.wirespan.http.Conversation.concat;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.http.Conversation.Party;
import dev.wirespan.metrics.LossCause;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Lost events, uncopied bytes and captures that start mid-stream. */
class ConnectionTrackerLossTest {
  private static final int BODY_BYTES = 3000;
  private static final int PIECE_BYTES = 500;
  private static final int CAPTURE_CAP_BYTES = 4096;
  private static final int CHUNK_BYTES = 10_000;


  private static void assertNextExchange(HttpExchange x) {
    assertThat(x.method()).isEqualTo("GET");
    assertThat(x.target()).isEqualTo("/next");
    assertThat(x.statusCode()).isEqualTo(200);
    assertThat(x.responseBodySize()).isEqualTo(2);
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(x.bytesMissing()).isFalse();
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void lostEventInsideContentLengthBodyIsFilledAndMarked(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request("GET /file HTTP/1.1\r\nHost: h\r\n\r\n");
    s.response("HTTP/1.1 200 OK\r\nContent-Length: " + BODY_BYTES + "\r\n\r\n");
    byte[] piece = new byte[PIECE_BYTES];
    Arrays.fill(piece, (byte) 'z');
    for (int i = 0; i < BODY_BYTES / PIECE_BYTES; i++) {
      if (i == 2) {
        s.lose(Party.RESPONSES, PIECE_BYTES);
      } else {
        s.send(Party.RESPONSES, piece);
      }
    }
    s.nextExchange();

    assertThat(run.listener.ended).hasSize(2);
    HttpExchange x = run.listener.ended.get(0);
    assertThat(x.target()).isEqualTo("/file");
    assertThat(x.statusCode()).isEqualTo(200);
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(x.responseBodySize()).isEqualTo(BODY_BYTES);
    assertThat(x.bytesMissing()).isTrue();
    assertNextExchange(run.listener.ended.get(1));
    run.assertLosses("gap in body", Map.of(LossCause.STREAM_GAP, 1L));
    run.finish("gap in body");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void lostEventInRequestHeadersEmitsNothingAndResyncs(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request("GET /first HTTP/1.1\r\n");
    s.lose(Party.REQUESTS, "Host: h\r\nX-Filler: abc\r\n".length());
    s.request("Accept: */*\r\n\r\n");
    s.response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
    s.nextExchange();

    assertThat(run.listener.started).hasSize(1);
    assertThat(run.listener.ended).hasSize(1);
    assertNextExchange(run.listener.ended.get(0));
    run.assertLosses(
        "gap in request headers",
        Map.of(
            LossCause.STREAM_GAP, 1L,
            LossCause.STREAM_RESYNC, 1L,
            LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L));
    run.finish("gap in request headers");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void lostEventInResponseHeadersEndsTheExchangeWithoutAResponse(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request("GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
    s.response("HTTP/1.1 200 OK\r\n");
    s.lose(Party.RESPONSES, "Content-Type: text/plain\r\n".length());
    s.response("Content-Length: 5\r\n\r\nfirst");
    s.nextExchange();

    assertThat(run.listener.ended).hasSize(2);
    HttpExchange x = run.listener.ended.get(0);
    assertThat(x.target()).isEqualTo("/first");
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.EVICTED);
    assertThat(x.bytesMissing()).isTrue();
    assertThat(x.statusCode()).as("no status invented").isZero();
    assertNextExchange(run.listener.ended.get(1));
    run.assertLosses(
        "gap in response headers", Map.of(LossCause.STREAM_GAP, 1L, LossCause.STREAM_RESYNC, 1L));
    run.finish("gap in response headers");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void gapLongerThanTheRestOfTheBodyResyncs(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request("GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
    s.response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
    // the rest of the body and the start of another response are lost together
    s.lose(Party.RESPONSES, 5 + "HTTP/1.1 200 OK\r\n".length());
    s.response("Content-Length: 2\r\n\r\nok");
    s.nextExchange();

    assertThat(run.listener.ended).hasSize(2);
    HttpExchange x = run.listener.ended.get(0);
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.EVICTED);
    assertThat(x.statusCode()).as("the status that was decoded is kept").isEqualTo(200);
    assertThat(x.bytesMissing()).isTrue();
    assertNextExchange(run.listener.ended.get(1));
    run.assertLosses("gap past body", Map.of(LossCause.STREAM_GAP, 1L, LossCause.STREAM_RESYNC, 1L));
    run.finish("gap past body");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void captureStartedMidMessageWaitsForTheNextMessage(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    // Opened before the agent started: the kernel side does not know the role.
    Wire wire = new Wire(run.tracker, side, 1, CaptureEvent.ConnectionRole.UNKNOWN);
    byte[] bodyTail = ascii("yyyyyyyy");
    byte[] requestTail = ascii("Host: h\r\n\r\n");
    byte[] response1 = ascii("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    byte[] request2 = ascii("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    byte[] response2 = ascii("HTTP/1.1 204 No Content\r\n\r\n");
    long responseAt = 5000;
    long requestAt = 800;
    wire.data(Party.RESPONSES, responseAt, bodyTail, 0, bodyTail.length);
    responseAt += bodyTail.length;
    wire.data(Party.REQUESTS, requestAt, requestTail, 0, requestTail.length);
    requestAt += requestTail.length;
    wire.data(Party.RESPONSES, responseAt, response1, 0, response1.length);
    responseAt += response1.length;
    wire.data(Party.REQUESTS, requestAt, request2, 0, request2.length);
    wire.data(Party.RESPONSES, responseAt, response2, 0, response2.length);

    assertThat(run.listener.ended).hasSize(1);
    HttpExchange x = run.listener.ended.get(0);
    assertThat(x.side()).as("told by the bytes, not the role").isEqualTo(side);
    assertThat(x.target()).isEqualTo("/next");
    assertThat(x.statusCode()).isEqualTo(204);
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    // The response to the request whose start was never seen cannot be paired.
    run.assertLosses("mid-stream start", Map.of(LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L));
    run.finish("mid-stream start");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void knownRoleFirstSeenPastOffsetZeroWaitsForAMessageStart(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Wire wire = run.wire(side, 1);
    byte[] bodyTail = ascii("GET /not-a-request-but-body-bytes HTTP/1.1");
    byte[] request = ascii("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    byte[] response = ascii("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    // The tail of a write in flight when capture started: too short to be a sure message start
    // and not at a known boundary, so it is skipped.
    wire.data(Party.REQUESTS, 300, bodyTail, 0, 5);
    wire.data(Party.REQUESTS, 305, request, 0, request.length);
    wire.data(Party.RESPONSES, 0, response, 0, response.length);

    assertThat(run.listener.ended).hasSize(1);
    assertNextExchange(run.listener.ended.get(0));
    run.assertLosses("past offset zero", Map.of());
    run.finish("past offset zero");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void truncatedCopyInsideChunkedFramingResyncsAtTheNextMessage(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request("GET /chunks HTTP/1.1\r\nHost: h\r\n\r\n");
    byte[] chunk = new byte[CHUNK_BYTES];
    Arrays.fill(chunk, (byte) 'c');
    byte[] response =
        concat(
            ascii("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ascii(Integer.toHexString(CHUNK_BYTES) + "\r\n"),
            chunk,
            ascii("\r\n0\r\n\r\n"));
    // one write, of which only the first CAPTURE_CAP_BYTES were copied
    s.wire.dataTruncated(
        Party.RESPONSES, s.end(Party.RESPONSES), response, 0, response.length, CAPTURE_CAP_BYTES);
    s.advance(Party.RESPONSES, response.length);
    s.nextExchange();

    assertThat(run.listener.ended).hasSize(2);
    HttpExchange x = run.listener.ended.get(0);
    assertThat(x.target()).isEqualTo("/chunks");
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.EVICTED);
    assertThat(x.statusCode()).isEqualTo(200);
    assertThat(x.bytesMissing()).isTrue();
    assertNextExchange(run.listener.ended.get(1));
    run.assertLosses("truncated chunked", Map.of(LossCause.STREAM_RESYNC, 1L));
    run.finish("truncated chunked");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void truncatedCopyPastTheEndOfABodyLosesOnlyWhatFollows(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request("GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two HTTP/1.1\r\nHost: h\r\n\r\n");
    byte[] body = new byte[CAPTURE_CAP_BYTES * 2];
    Arrays.fill(body, (byte) 'b');
    byte[] responses =
        concat(
            ascii("HTTP/1.1 200 OK\r\nContent-Length: " + body.length + "\r\n\r\n"),
            body,
            ascii("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"));
    s.wire.dataTruncated(
        Party.RESPONSES, 0, responses, 0, responses.length, CAPTURE_CAP_BYTES);
    s.advance(Party.RESPONSES, responses.length);

    assertThat(run.listener.ended).hasSize(1);
    HttpExchange one = run.listener.ended.get(0);
    assertThat(one.target()).isEqualTo("/one");
    assertThat(one.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(one.responseBodySize()).isEqualTo(body.length);
    assertThat(one.bytesMissing()).as("uncopied body bytes are harmless").isFalse();
    run.assertLosses("truncated past body", Map.of(LossCause.STREAM_RESYNC, 1L));
    run.finish("truncated past body");
    HttpExchange two = run.listener.ended.get(1);
    assertThat(two.target()).isEqualTo("/two");
    assertThat(two.outcome()).as("its response was never decoded").isEqualTo(HttpExchange.Outcome.EVICTED);
    assertThat(two.statusCode()).isZero();
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void sendfileBodyWithoutPayloadKeepsFraming(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request("GET /static HTTP/1.1\r\nHost: h\r\n\r\n");
    int fileBytes = 1_000_000;
    s.response("HTTP/1.1 200 OK\r\nContent-Length: " + fileBytes + "\r\n\r\n");
    // sendfile: the bytes moved, none were copied
    s.wire.dataTruncated(Party.RESPONSES, s.end(Party.RESPONSES), new byte[0], 0, fileBytes, 0);
    s.advance(Party.RESPONSES, fileBytes);
    s.nextExchange();

    assertThat(run.listener.ended).hasSize(2);
    assertThat(run.listener.ended.get(0).responseBodySize()).isEqualTo(fileBytes);
    assertThat(run.listener.ended.get(0).bytesMissing()).isFalse();
    assertNextExchange(run.listener.ended.get(1));
    run.assertLosses("sendfile", Map.of());
    run.finish("sendfile");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void repeatedBytesAreSkipped(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Wire wire = run.wire(side, 1);
    byte[] request = ascii("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    byte[] response = ascii("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    wire.data(Party.REQUESTS, 0, request, 0, 10);
    wire.data(Party.REQUESTS, 5, request, 5, 10); // overlaps the first by 5 bytes
    wire.data(Party.REQUESTS, 15, request, 15, request.length - 15);
    wire.data(Party.REQUESTS, 0, request, 0, 8); // all seen already
    wire.data(Party.RESPONSES, 0, response, 0, response.length);

    assertThat(run.listener.ended).hasSize(1);
    assertNextExchange(run.listener.ended.get(0));
    run.assertLosses("overlap", Map.of());
    run.finish("overlap");
  }

  private static String request(String target) {
    return "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n";
  }

  private static String response(int status, String body) {
    return "HTTP/1.1 " + status + " X\r\nContent-Length: " + body.length() + "\r\n\r\n" + body;
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void aResponseLostWholeDoesNotShiftThePairingOfTheOnesAfterIt(HttpExchange.Side side) {
    // A client that waits for each answer; the answer to /a is lost whole (a dropped event at a
    // message boundary). /b was sent after it arrived, so the next response answers /b, not /a;
    // and every later pairing stays right.
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request(request("/first"));
    s.response(response(200, "f"));
    s.request(request("/a"));
    s.lose(Party.RESPONSES, response(201, "aa").length());
    s.request(request("/b"));
    s.response(response(202, "bbb"));
    s.request(request("/c"));
    s.response(response(203, "cccc"));

    assertThat(run.listener.ended)
        .extracting(HttpExchange::target, HttpExchange::statusCode, HttpExchange::outcome)
        .containsExactly(
            tuple("/first", 200, HttpExchange.Outcome.COMPLETE),
            tuple("/a", 0, HttpExchange.Outcome.EVICTED),
            tuple("/b", 202, HttpExchange.Outcome.COMPLETE),
            tuple("/c", 203, HttpExchange.Outcome.COMPLETE));
    assertThat(run.listener.ended.get(1).bytesMissing()).isTrue();
    assertThat(run.listener.ended.get(2).responseBodySize()).isEqualTo(3);
    run.assertLosses(
        "a lost answer", Map.of(LossCause.STREAM_GAP, 1L, LossCause.STREAM_RESYNC, 1L));
    run.finish("a lost answer");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void aResponseHeadLostDoesNotShiftThePairingOfTheOnesAfterIt(HttpExchange.Side side) {
    // The answer to /a loses its first event (its head): its body is skipped while the direction
    // waits for a response start, which is the answer to /b.
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request(request("/a"));
    String head = "HTTP/1.1 201 X\r\nContent-Length: 5\r\n\r\n";
    s.lose(Party.RESPONSES, head.length());
    s.whole(Party.RESPONSES, "aaaaa");
    s.request(request("/b"));
    s.response(response(202, "bb"));

    assertThat(run.listener.ended)
        .extracting(HttpExchange::target, HttpExchange::statusCode, HttpExchange::outcome)
        .containsExactly(
            tuple("/a", 0, HttpExchange.Outcome.EVICTED),
            tuple("/b", 202, HttpExchange.Outcome.COMPLETE));
    run.finish("a lost head");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void aPipeliningClientsAnswersAfterALossPairWithTheOldestRequest(HttpExchange.Side side) {
    // Seen pipelining (/2 sent before /1 was answered), then the answer to /3 is lost: how many
    // answers lost bytes held cannot be told on such a connection, pairing stays with the oldest
    // request (a known limit: /3 takes /4's answer) and no request is ended for it.
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request(request("/1"));
    s.request(request("/2"));
    s.response(response(201, "1"));
    s.response(response(202, "2"));
    s.request(request("/3"));
    s.lose(Party.RESPONSES, response(203, "3").length());
    s.request(request("/4"));
    s.response(response(204, "4"));

    assertThat(run.listener.ended)
        .extracting(HttpExchange::target, HttpExchange::statusCode)
        .containsExactly(tuple("/1", 201), tuple("/2", 202), tuple("/3", 204));
    run.finish("pipelining");
  }


  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void theAnswerAfterALossIsFramedByTheRequestItIsPairedWith(HttpExchange.Side side) {
    // The answer to GET /a is lost whole; the next response answers HEAD /h: its Content-Length
    // announces no body here, so the answer to /c after it is its own message.
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request(request("/a"));
    s.lose(Party.RESPONSES, response(200, "aa").length());
    s.request("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n");
    s.response("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
    s.request(request("/c"));
    s.response(response(203, "ccc"));

    assertThat(run.listener.ended)
        .extracting(HttpExchange::target, HttpExchange::statusCode, HttpExchange::outcome)
        .containsExactly(
            tuple("/a", 0, HttpExchange.Outcome.EVICTED),
            tuple("/h", 200, HttpExchange.Outcome.COMPLETE),
            tuple("/c", 203, HttpExchange.Outcome.COMPLETE));
    assertThat(run.listener.ended.get(1).responseBodySize()).isZero();
    run.finish("head after a loss");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void requestsSentAheadOfTheirAnswersKeepTheOldestRuleAfterALoss(HttpExchange.Side side) {
    // Three requests sent before any answer (separate writes): the first answer's head shows the
    // client pipelines. That answer is then cut (a lost event inside its chunked body): it ends
    // EVICTED, and the next answers pair in order.
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request(request("/1"));
    s.request(request("/2"));
    s.request(request("/3"));
    s.response("HTTP/1.1 201 X\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    s.lose(Party.RESPONSES, "5\r\nworld\r\n0\r\n\r\n".length());
    s.response(response(202, "2"));
    s.response(response(203, "3"));

    assertThat(run.listener.ended)
        .extracting(HttpExchange::target, HttpExchange::statusCode, HttpExchange::outcome)
        .containsExactly(
            tuple("/1", 201, HttpExchange.Outcome.EVICTED),
            tuple("/2", 202, HttpExchange.Outcome.COMPLETE),
            tuple("/3", 203, HttpExchange.Outcome.COMPLETE));
    run.finish("pipelined before a loss");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void exchangesShedByTheKernelBetweenMessagesAreNoLoss(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.exchange(
        "GET /first HTTP/1.1\r\nHost: h\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
    // Two whole exchanges shed: each direction's offsets jump, its next event says why.
    s.shed(Party.REQUESTS, 2 * "GET /shed HTTP/1.1\r\nHost: h\r\n\r\n".length());
    s.shed(Party.RESPONSES, 2 * "HTTP/1.1 204 No Content\r\n\r\n".length());
    s.nextExchange();

    assertThat(run.listener.ended).hasSize(2);
    HttpExchange first = run.listener.ended.get(0);
    assertThat(first.target()).isEqualTo("/first");
    assertThat(first.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(first.bytesMissing()).isFalse();
    assertNextExchange(run.listener.ended.get(1));
    run.assertLosses("shed between messages", Map.of());
    run.finish("shed between messages");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void exchangesShedWhileAMessageWasUnderWayAreAGap(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    // A body sent after a 100 Continue looks like an exchange beginning to the kernel.
    s.request("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
    s.response("HTTP/1.1 100 Continue\r\n\r\n");
    s.shed(Party.REQUESTS, 10);
    s.shed(Party.RESPONSES, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n".length());
    s.nextExchange();

    assertThat(run.listener.ended).hasSize(2);
    HttpExchange upload = run.listener.ended.get(0);
    assertThat(upload.target()).isEqualTo("/upload");
    assertThat(upload.outcome()).isEqualTo(HttpExchange.Outcome.EVICTED);
    assertThat(upload.bytesMissing()).isTrue();
    assertThat(upload.statusCode()).as("no status invented").isZero();
    assertNextExchange(run.listener.ended.get(1));
    run.assertLosses("shed inside a body", Map.of(LossCause.STREAM_GAP, 1L));
    run.finish("shed inside a body");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void aShedFlagAfterARecordLostInsideHeadersIsStillAGap(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request("GET /first HTTP/1.1\r\n");
    s.shed(Party.REQUESTS, "Host: h\r\n\r\n".length());
    s.response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
    s.nextExchange();

    assertThat(run.listener.ended).hasSize(1);
    assertNextExchange(run.listener.ended.get(0));
    run.assertLosses(
        "shed flag inside headers",
        Map.of(
            LossCause.STREAM_GAP, 1L,
            LossCause.STREAM_RESYNC, 1L,
            LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L));
    run.finish("shed flag inside headers");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void sheddingThatStopsAtABodyAfterAnInterimAnswerSkipsTheBody(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.exchange(
        "GET /first HTTP/1.1\r\nHost: h\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
    // The headers and the interim answer were shed; the kernel stopped shedding at the body (a
    // call on the request direction after one on the other) and reports it and the answer.
    s.shed(
        Party.REQUESTS,
        "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"
            .length());
    s.shed(Party.RESPONSES, "HTTP/1.1 100 Continue\r\n\r\n".length());
    s.request("0123456789");
    s.response("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    s.nextExchange();

    assertThat(run.listener.ended).hasSize(2);
    assertThat(run.listener.ended.get(0).target()).isEqualTo("/first");
    assertNextExchange(run.listener.ended.get(1));
    // The answer to the shed request has nothing to pair with: counted, not paired with /next.
    run.assertLosses(
        "shedding stopped at a body", Map.of(LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L));
    run.finish("shedding stopped at a body");
  }
}
