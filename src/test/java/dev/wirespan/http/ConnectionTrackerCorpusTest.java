package dev.wirespan.http;

import static dev.wirespan.http.Conversation.ascii;
import static dev.wirespan.http.Conversation.concat;
import static dev.wirespan.http.Conversation.part;
import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.http.Conversation.Party;
import dev.wirespan.http.Conversation.Range;
import dev.wirespan.metrics.LossCause;
import io.netty.util.ResourceLeakDetector;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.IntFunction;
import java.util.stream.Stream;
import javax.annotation.Nullable;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A corpus of HTTP/1.x conversations, each delivered whole, split in two at every byte offset of
 * every write, and cut into random syscall-sized pieces, from the server's and from the client's
 * point of view: the exchanges must come out the same every time, timed from the right events.
 */
class ConnectionTrackerCorpusTest {
  private static final long SEEDS = 6;
  /** Writes longer than this are split at sampled offsets rather than at every one. */
  private static final int EXHAUSTIVE_SPLIT_MAX_BYTES = 4096;
  private static final int SAMPLED_SPLIT_EDGE_BYTES = 256;
  private static final int SAMPLED_SPLIT_STRIDE_BYTES = 4099;
  private static final int[] PIECE_MAX_BYTES = {1, 3, 16, 100, 1460, 16384};
  private static final int[] LARGE_WRITE_PIECE_MAX_BYTES = {1460, 16384, 65536};
  private static final int LARGE_WRITE_BYTES = 65536;
  private static final int ONE_MIB = 1 << 20;
  private static final int SMALL_CAPTURE_CAP_BYTES = 4096;

  static final String TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

  @BeforeAll
  static void paranoidLeakDetection() {
    ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
  }

  /** What one exchange must look like. */
  record Expected(
      String method,
      String target,
      String version,
      int status,
      long requestBody,
      long responseBody,
      HttpExchange.Outcome outcome,
      Range request,
      @Nullable Range response) {}

  record Case(
      String name,
      Conversation conversation,
      List<Expected> expected,
      Map<LossCause, Long> losses,
      int captureCapBytes) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Expected ok(String method, String target, int status, long reqBody, long respBody,
      Range request, Range response) {
    return new Expected(method, target, "1.1", status, reqBody, respBody,
        HttpExchange.Outcome.COMPLETE, request, response);
  }

  static List<Case> corpus() {
    List<Case> cases = new ArrayList<>();
    {
      Conversation c = new Conversation();
      Range req = c.request("GET /hello?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: corpus/1.0\r\n"
          + "traceparent: " + TRACEPARENT + "\r\ntracestate: congo=t61rcWkgMzE\r\n"
          + "Authorization: Bearer s3cr3t-token\r\nCookie: session=s3cr3t-cookie\r\n\r\n");
      Range resp = c.response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
          + "Set-Cookie: id=s3cr3t-set\r\nContent-Length: 5\r\n\r\nhello");
      cases.add(new Case("simple GET", c, List.of(ok("GET", "/hello?x=1", 200, 0, 5, req, resp)),
          Map.of(), Integer.MAX_VALUE));
    }
    {
      Conversation c = new Conversation();
      List<Expected> e = new ArrayList<>();
      for (int i = 1; i <= 3; i++) {
        Range req = c.request("GET /a" + i + " HTTP/1.1\r\nHost: h\r\n\r\n");
        String body = "x".repeat(i);
        Range resp = c.response("HTTP/1.1 200 OK\r\nContent-Length: " + i + "\r\n\r\n" + body);
        e.add(ok("GET", "/a" + i, 200, 0, i, req, resp));
      }
      cases.add(new Case("keep-alive series", c, e, Map.of(), Integer.MAX_VALUE));
    }
    {
      Conversation c = new Conversation();
      String r1 = "GET /p1 HTTP/1.1\r\nHost: h\r\n\r\n";
      String r2 = "POST /p2 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\ndata";
      String r3 = "GET /p3 HTTP/1.1\r\nHost: h\r\n\r\n";
      Range reqs = c.request(r1 + r2 + r3);
      String s1 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr1";
      String s2 = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
      String s3 = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
      Range resps = c.response(s1 + s2 + s3);
      int a = r1.length();
      int b = a + r2.length();
      int x = s1.length();
      int y = x + s2.length();
      cases.add(new Case("pipelined", c, List.of(
          ok("GET", "/p1", 200, 0, 2, part(reqs, 0, a), part(resps, 0, x)),
          ok("POST", "/p2", 201, 4, 3, part(reqs, a, b), part(resps, x, y)),
          ok("GET", "/p3", 404, 0, 0, part(reqs, b, reqs.end() - reqs.start()),
              part(resps, y, resps.end() - resps.start()))),
          Map.of(), Integer.MAX_VALUE));
    }
    {
      Conversation c = new Conversation();
      Range req = c.request("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
      Range resp = c.response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
          + "5\r\nhello\r\n6;ext=1\r\n world\r\n10\r\n0123456789abcdef\r\n0\r\nX-Checksum: abc\r\n\r\n");
      Range req2 = c.request("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
      Range resp2 = c.response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      cases.add(new Case("chunked response with trailers", c, List.of(
          ok("GET", "/stream", 200, 0, 27, req, resp), ok("GET", "/next", 200, 0, 2, req2, resp2)),
          Map.of(), Integer.MAX_VALUE));
    }
    {
      Conversation c = new Conversation();
      Range req = c.request("POST /submit HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
          + "Content-Length: 13\r\n\r\n{\"a\":\"hello\"}");
      Range resp = c.response("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
      Range req2 = c.request("POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
          + "4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n");
      Range resp2 = c.response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      cases.add(new Case("Content-Length and chunked POST", c, List.of(
          ok("POST", "/submit", 201, 13, 0, req, resp), ok("POST", "/upload", 200, 6, 2, req2, resp2)),
          Map.of(), Integer.MAX_VALUE));
    }
    {
      Conversation c = new Conversation();
      Range req = c.request("HEAD /big HTTP/1.1\r\nHost: h\r\n\r\n");
      Range resp = c.response("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
      Range req2 = c.request("GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
      Range resp2 = c.response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      cases.add(new Case("HEAD with Content-Length", c, List.of(
          ok("HEAD", "/big", 200, 0, 0, req, resp), ok("GET", "/after", 200, 0, 2, req2, resp2)),
          Map.of(), Integer.MAX_VALUE));
    }
    {
      // pipelined HEAD: the response decoder must know which response answers the HEAD
      Conversation c = new Conversation();
      String r1 = "HEAD /big HTTP/1.1\r\nHost: h\r\n\r\n";
      Range reqs = c.request(r1 + "GET /small HTTP/1.1\r\nHost: h\r\n\r\n");
      String s1 = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
      Range resps = c.response(s1 + "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
      cases.add(new Case("pipelined HEAD", c, List.of(
          ok("HEAD", "/big", 200, 0, 0, part(reqs, 0, r1.length()), part(resps, 0, s1.length())),
          ok("GET", "/small", 200, 0, 3, part(reqs, r1.length(), reqs.end()),
              part(resps, s1.length(), resps.end()))),
          Map.of(), Integer.MAX_VALUE));
    }
    {
      Conversation c = new Conversation();
      Range req = c.request("DELETE /item/1 HTTP/1.1\r\nHost: h\r\n\r\n");
      Range resp = c.response("HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n");
      Range req2 = c.request("GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
      Range resp2 = c.response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      cases.add(new Case("204", c, List.of(
          ok("DELETE", "/item/1", 204, 0, 0, req, resp), ok("GET", "/after", 200, 0, 2, req2, resp2)),
          Map.of(), Integer.MAX_VALUE));
    }
    {
      Conversation c = new Conversation();
      Range req = c.request("GET /cached HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"v1\"\r\n\r\n");
      Range resp = c.response("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 512\r\n\r\n");
      Range req2 = c.request("GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
      Range resp2 = c.response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      cases.add(new Case("304", c, List.of(
          ok("GET", "/cached", 304, 0, 0, req, resp), ok("GET", "/after", 200, 0, 2, req2, resp2)),
          Map.of(), Integer.MAX_VALUE));
    }
    {
      Conversation c = new Conversation();
      Range head = c.request("PUT /file HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
          + "Content-Length: 4\r\n\r\n");
      c.response("HTTP/1.1 100 Continue\r\n\r\n");
      Range body = c.request("data");
      Range resp = c.response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      cases.add(new Case("100-continue", c, List.of(
          ok("PUT", "/file", 200, 4, 2, head.to(body), resp)), Map.of(), Integer.MAX_VALUE));
    }
    {
      Conversation c = new Conversation();
      Range req = c.request("GET /bye HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
      Range resp = c.response("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye");
      c.close();
      cases.add(new Case("Connection: close", c, List.of(ok("GET", "/bye", 200, 0, 3, req, resp)),
          Map.of(), Integer.MAX_VALUE));
    }
    {
      Conversation c = new Conversation();
      Range req = c.request("GET /old HTTP/1.0\r\nHost: h\r\n\r\n");
      Range resp = c.response("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome body until close");
      c.close();
      cases.add(new Case("HTTP/1.0 read until close", c, List.of(new Expected("GET", "/old", "1.0",
          200, 0, 21, HttpExchange.Outcome.COMPLETE, req, resp)), Map.of(), Integer.MAX_VALUE));
    }
    {
      Conversation c = new Conversation();
      Range req = c.request("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
      Range resp = c.response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          + "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
      c.request(new byte[] {(byte) 0x81, (byte) 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4,
          'o' ^ 1});
      c.response(new byte[] {(byte) 0x81, 0x05, 'h', 'e', 'l', 'l', 'o'});
      c.close();
      cases.add(new Case("101 switching protocols", c, List.of(ok("GET", "/ws", 101, 0, 0, req, resp)),
          Map.of(), Integer.MAX_VALUE));
    }
    {
      Conversation c = new Conversation();
      c.request("GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n");
      c.response("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      c.close();
      cases.add(new Case("malformed request", c, List.of(), Map.of(
          LossCause.STREAM_DECODER_ERROR, 1L, LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L),
          Integer.MAX_VALUE));
    }
    {
      // A 1 MiB body when at most 4 KiB of each syscall is copied: framing follows the real
      // byte counts, so the next exchange on the connection is still decoded.
      Conversation c = new Conversation();
      Range req = c.request("GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
      byte[] body = new byte[ONE_MIB];
      Arrays.fill(body, (byte) 'b');
      Range resp = c.response(concat(
          ascii("HTTP/1.1 200 OK\r\nContent-Length: " + ONE_MIB + "\r\n\r\n"), body));
      Range req2 = c.request("POST /small HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
      Range resp2 = c.response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      cases.add(new Case("1 MiB body, 4 KiB captured per syscall", c, List.of(
          ok("GET", "/big", 200, 0, ONE_MIB, req, resp), ok("POST", "/small", 200, 3, 2, req2, resp2)),
          Map.of(), SMALL_CAPTURE_CAP_BYTES));
    }
    return cases;
  }

  static Stream<Arguments> cases() {
    List<Arguments> args = new ArrayList<>();
    for (Case c : corpus()) {
      for (HttpExchange.Side side : HttpExchange.Side.values()) {
        args.add(Arguments.of(c, side));
      }
    }
    return args.stream();
  }

  @ParameterizedTest(name = "{0} ({1}), whole writes")
  @MethodSource("cases")
  void wholeWrites(Case c, HttpExchange.Side side) {
    run(c, side, "whole", i -> new int[] {c.conversation().steps().get(i).bytes().length});
  }

  @ParameterizedTest(name = "{0} ({1}), every write split in two at every offset")
  @MethodSource("cases")
  void everySplitInTwo(Case c, HttpExchange.Side side) {
    List<Conversation.Step> steps = c.conversation().steps();
    for (int t = 0; t < steps.size(); t++) {
      int len = steps.get(t).bytes().length;
      for (int k : splitOffsets(len)) {
        int splitStep = t;
        run(c, side, "step " + t + " split at " + k, i -> {
          int n = steps.get(i).bytes().length;
          return i == splitStep ? new int[] {k, n - k} : new int[] {n};
        });
      }
    }
  }

  @ParameterizedTest(name = "{0} ({1}), random syscall sizes")
  @MethodSource("cases")
  void randomPieces(Case c, HttpExchange.Side side) {
    for (long seed = 1; seed <= SEEDS; seed++) {
      Random random = new Random(seed);
      List<Conversation.Step> steps = c.conversation().steps();
      List<int[]> sizes = new ArrayList<>();
      for (Conversation.Step s : steps) {
        int[] maxima = s.bytes().length > LARGE_WRITE_BYTES ? LARGE_WRITE_PIECE_MAX_BYTES : PIECE_MAX_BYTES;
        sizes.add(randomPieces(random, s.bytes().length, maxima[random.nextInt(maxima.length)]));
      }
      run(c, side, "seed " + seed, sizes::get);
    }
  }

  private static int[] randomPieces(Random random, int length, int maxPiece) {
    List<Integer> pieces = new ArrayList<>();
    int left = length;
    while (left > 0) {
      int n = Math.min(left, 1 + random.nextInt(maxPiece));
      pieces.add(n);
      left -= n;
    }
    return pieces.stream().mapToInt(Integer::intValue).toArray();
  }

  private static List<Integer> splitOffsets(int length) {
    List<Integer> offsets = new ArrayList<>();
    for (int k = 1; k < length; k++) {
      boolean sampled = length <= EXHAUSTIVE_SPLIT_MAX_BYTES
          || k < SAMPLED_SPLIT_EDGE_BYTES
          || k > length - SAMPLED_SPLIT_EDGE_BYTES
          || k % SAMPLED_SPLIT_STRIDE_BYTES == 0;
      if (sampled) {
        offsets.add(k);
      }
    }
    return offsets;
  }

  private static void run(Case c, HttpExchange.Side side, String how, IntFunction<int[]> split) {
    String description = c.name() + " (" + side + ", " + how + ")";
    TrackerRun run = new TrackerRun();
    Wire wire = run.wire(side, 7).captureCap(c.captureCapBytes());
    wire.deliver(c.conversation(), split);
    List<HttpExchange> ended = run.listener.ended;
    assertThat(ended).as(description).hasSize(c.expected().size());
    assertThat(run.listener.started).as(description).hasSize(c.expected().size());
    for (int i = 0; i < ended.size(); i++) {
      Expected e = c.expected().get(i);
      HttpExchange x = ended.get(i);
      String d = description + " exchange " + i;
      assertThat(x.side()).as(d).isEqualTo(side);
      assertThat(x.method()).as(d).isEqualTo(e.method());
      assertThat(x.target()).as(d).isEqualTo(e.target());
      assertThat(x.protocolVersion()).as(d).isEqualTo(e.version());
      assertThat(x.statusCode()).as(d).isEqualTo(e.status());
      assertThat(x.requestBodySize()).as(d + " request body").isEqualTo(e.requestBody());
      assertThat(x.responseBodySize()).as(d + " response body").isEqualTo(e.responseBody());
      assertThat(x.outcome()).as(d).isEqualTo(e.outcome());
      assertThat(x.bytesMissing()).as(d).isFalse();
      assertThat(x.connection().connectionId()).isEqualTo(7);
      Wire.Sent firstRequest = wire.carrying(Party.REQUESTS, e.request().start());
      Wire.Sent lastRequest = wire.carrying(Party.REQUESTS, e.request().end() - 1);
      assertThat(x.requestStartNanos()).as(d + " request start").isEqualTo(firstRequest.timestampNanos());
      assertThat(x.requestTid()).as(d + " request tid").isEqualTo(firstRequest.tid());
      assertThat(x.requestEndNanos()).as(d + " request end").isEqualTo(lastRequest.timestampNanos());
      if (e.response() != null) {
        Wire.Sent firstResponse = wire.carrying(Party.RESPONSES, e.response().start());
        Wire.Sent lastResponse = wire.carrying(Party.RESPONSES, e.response().end() - 1);
        assertThat(x.responseStartNanos()).as(d + " response start")
            .isEqualTo(firstResponse.timestampNanos());
        assertThat(x.responseTid()).as(d + " response tid").isEqualTo(firstResponse.tid());
        assertThat(x.responseEndNanos()).as(d + " response end")
            .isEqualTo(lastResponse.timestampNanos());
      }
    }
    run.assertLosses(description, c.losses());
    run.finish(description);
  }
}
