package dev.wirespan.http;

import static dev.wirespan.http.Conversation.ascii;
import static dev.wirespan.http.Conversation.concat;
import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.http.Conversation.Party;
import dev.wirespan.metrics.LossCause;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Calls that moved more than the capture cap arrive with their head and their tail (the kernel
 * side's defaults: 4096 + 64); the uncopied middle is fed as zeros and the decoder decides.
 */
class ConnectionTrackerHeadTailTest {
  private static final int CAP_BYTES = 4096;
  private static final int TAIL_BYTES = 64;
  /** What the JDK's HttpServer puts in each chunk. */
  private static final int JDK_CHUNK_DATA_BYTES = 4096;
  private static final int JDK_CHUNKS = 73;
  private static final int BIG_CHUNK_BYTES = 10_000;
  private static final int TWO_CHUNK_BYTES = 5_000;
  private static final int BODY_BYTES = 10_000;


  private static Streams streams(TrackerRun run, HttpExchange.Side side, int tailBytes) {
    return new Streams(run.wire(side, 1).captureCap(CAP_BYTES).captureTail(tailBytes));
  }

  private static byte[] filled(int n, char c) {
    byte[] b = new byte[n];
    Arrays.fill(b, (byte) c);
    return b;
  }

  private static byte[] chunk(byte[] data) {
    return concat(ascii(Integer.toHexString(data.length) + "\r\n"), data, ascii("\r\n"));
  }

  private static void assertNext(HttpExchange x) {
    assertThat(x.target()).isEqualTo("/next");
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(x.responseBodySize()).isEqualTo(2);
  }

  /** The JDK's HttpServer: "1000\r\n" + 4096 data bytes + "\r\n" = 4104 bytes per write. */
  private static void sendJdkChunkedResponse(Streams s) {
    s.send(Party.RESPONSES, ascii("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
    byte[] data = filled(JDK_CHUNK_DATA_BYTES, 'd');
    for (int i = 0; i < JDK_CHUNKS; i++) {
      s.send(Party.RESPONSES, chunk(data));
    }
    s.send(Party.RESPONSES, ascii("0\r\n\r\n"));
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void chunksWrittenIn4104ByteWritesDecodeFullyWithTheTail(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = streams(run, side, TAIL_BYTES);
    s.request("GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n");
    sendJdkChunkedResponse(s);
    s.nextExchange();

    assertThat(run.listener.ended).hasSize(2);
    HttpExchange x = run.listener.ended.get(0);
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(x.statusCode()).isEqualTo(200);
    assertThat(x.responseBodySize()).isEqualTo((long) JDK_CHUNKS * JDK_CHUNK_DATA_BYTES);
    assertThat(x.bytesMissing()).isFalse();
    assertThat(x.connection().processName()).isEqualTo(Wire.PROCESS_NAME);
    assertNext(run.listener.ended.get(1));
    run.assertLosses("4104-byte chunk writes", Map.of());
    run.finish("4104-byte chunk writes");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void withoutATailThe4104ByteWritesLoseTheirFraming(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = streams(run, side, 0);
    s.request("GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n");
    sendJdkChunkedResponse(s);
    s.nextExchange();

    HttpExchange x = run.listener.ended.get(0);
    assertThat(x.target()).isEqualTo("/chunked");
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.EVICTED);
    assertThat(x.responseBodySize()).isLessThan((long) JDK_CHUNKS * JDK_CHUNK_DATA_BYTES);
    assertNext(run.listener.ended.get(1));
    assertThat(run.loss(LossCause.STREAM_RESYNC)).isEqualTo(1);
    run.finish("4104-byte chunk writes, no tail");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void anUncopiedMiddleOfChunkDataDecodesAsData(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = streams(run, side, TAIL_BYTES);
    s.request("GET /big-chunk HTTP/1.1\r\nHost: h\r\n\r\n");
    // One write: headers, a 10000-byte chunk and the last chunk; the middle is chunk data only.
    s.send(
        Party.RESPONSES,
        concat(
            ascii("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            chunk(filled(BIG_CHUNK_BYTES, 'c')),
            ascii("0\r\n\r\n")));
    s.nextExchange();

    assertThat(run.listener.ended).hasSize(2);
    HttpExchange x = run.listener.ended.get(0);
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(x.responseBodySize()).isEqualTo(BIG_CHUNK_BYTES);
    assertThat(x.bytesMissing()).as("uncopied bytes are not lost bytes").isFalse();
    assertNext(run.listener.ended.get(1));
    run.assertLosses("middle of chunk data", Map.of());
    run.finish("middle of chunk data");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void anUncopiedChunkHeaderFailsTheDecoderResyncsAndIsCounted(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = streams(run, side, TAIL_BYTES);
    s.request("GET /two-chunks HTTP/1.1\r\nHost: h\r\n\r\n");
    byte[] write =
        concat(
            ascii("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            chunk(filled(TWO_CHUNK_BYTES, 'a')),
            chunk(filled(TWO_CHUNK_BYTES, 'b')),
            ascii("0\r\n\r\n"));
    int secondHeader = write.length - TWO_CHUNK_BYTES - 2 - 5 - 6;
    assertThat(secondHeader).as("the second chunk header is in the uncopied middle")
        .isGreaterThan(CAP_BYTES)
        .isLessThan(write.length - TAIL_BYTES);
    s.send(Party.RESPONSES, write);
    s.nextExchange();

    assertThat(run.listener.ended).hasSize(2);
    HttpExchange x = run.listener.ended.get(0);
    assertThat(x.target()).isEqualTo("/two-chunks");
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.EVICTED);
    assertThat(x.statusCode()).isEqualTo(200);
    assertThat(x.bytesMissing()).isTrue();
    assertNext(run.listener.ended.get(1));
    // Zeros hid the framing: a lost boundary, not a decoder error.
    run.assertLosses("chunk header in the middle", Map.of(LossCause.STREAM_RESYNC, 1L));
    run.finish("chunk header in the middle");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void contentLengthBodiesKeepTheirSizeAndAFollowingMessageInTheTailIsDecoded(
      HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = streams(run, side, TAIL_BYTES);
    byte[] body = filled(BODY_BYTES, 'u');
    // A request body in one write: head, zeros, tail.
    s.send(
        Party.REQUESTS,
        concat(ascii("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: " + BODY_BYTES + "\r\n\r\n"),
            body));
    s.request("GET /second HTTP/1.1\r\nHost: h\r\n\r\n");
    // Both responses in one write: the second lies wholly in the tail.
    byte[] second = ascii("HTTP/1.1 204 No Content\r\n\r\n");
    assertThat(second.length).isLessThan(TAIL_BYTES);
    s.send(
        Party.RESPONSES,
        concat(ascii("HTTP/1.1 200 OK\r\nContent-Length: " + BODY_BYTES + "\r\n\r\n"), body, second));
    s.nextExchange();

    assertThat(run.listener.ended).hasSize(3);
    HttpExchange upload = run.listener.ended.get(0);
    assertThat(upload.target()).isEqualTo("/upload");
    assertThat(upload.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(upload.requestBodySize()).isEqualTo(BODY_BYTES);
    assertThat(upload.responseBodySize()).isEqualTo(BODY_BYTES);
    assertThat(upload.bytesMissing()).isFalse();
    HttpExchange secondExchange = run.listener.ended.get(1);
    assertThat(secondExchange.target()).isEqualTo("/second");
    assertThat(secondExchange.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(secondExchange.statusCode()).isEqualTo(204);
    assertNext(run.listener.ended.get(2));
    run.assertLosses("content-length head and tail", Map.of());
    run.finish("content-length head and tail");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void aTailOverlappingBytesAlreadySeenIsFedOnlyFromWhereTheyEnd(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Wire wire = run.wire(side, 1).captureCap(CAP_BYTES).captureTail(TAIL_BYTES);
    byte[] request = ascii("GET /r HTTP/1.1\r\nHost: h\r\n\r\n");
    wire.data(Party.REQUESTS, 0, request, 0, request.length);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(ascii("HTTP/1.1 200 OK\r\nContent-Length: " + BODY_BYTES + "\r\n\r\n"));
    out.writeBytes(filled(BODY_BYTES, 'x'));
    byte[] response = out.toByteArray();
    int first = response.length - TAIL_BYTES / 2;
    wire.data(Party.RESPONSES, 0, response, 0, first);
    // The same bytes again from offset 0 (a repeated event): only the last ones are new, in its tail.
    wire.data(Party.RESPONSES, 0, response, 0, response.length);

    assertThat(run.listener.ended).hasSize(1);
    HttpExchange x = run.listener.ended.get(0);
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    assertThat(x.responseBodySize()).isEqualTo(BODY_BYTES);
    run.assertLosses("overlapping tail", Map.of());
    run.finish("overlapping tail");
  }
}
