package dev.wirespan.capture;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.http.ConnectionTracker;
import dev.wirespan.http.HttpExchange;
import dev.wirespan.http.HttpSettings;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.LossCause;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Events the kernel could not deliver are counted there, and the hole they leave in the byte
 * stream is seen and counted by the HTTP stage: loss is never silent. With shedding on (the
 * default), a crowded ring costs whole exchanges, counted once each, instead of pieces of many.
 */
class KernelLossTest {
  /** Smallest ring: a handful of events fill it. */
  private static final int TINY_RING_BYTES = 4096;
  private static final int REQUESTS_WHILE_NOT_READING = 200;
  private static final int REQUEST_PADDING_BYTES = 900;
  /** A ring whose half holds a few exchanges of about 2.3 KiB per traced side. */
  private static final int SMALL_RING_BYTES = 32 * 1024;
  private static final int EXCHANGES_AFTER_DRAIN = 3;

  @Test
  void aFullRingBufferIsCountedInTheKernelAndTheGapInTheStream() throws Exception {
    Privileges.requireRoot();
    Recorder recorder = new Recorder();
    AgentMetrics metrics = recorder.metrics;
    ConnectionTracker tracker = recorder.tracker;
    InetAddress lo = InetAddress.getByName("127.0.0.1");
    try (KernelCapture capture =
            KernelCapture.open(
                CaptureSettings.builder()
                    .setSelfTgid(0)
                    .setRingBufferBytes(TINY_RING_BYTES)
                    .setWakeupBytes(0)
                    .setShedExchanges(false)
                    .build());
        ServerSocket server = new ServerSocket(0, 1, lo);
        Socket client = new Socket(lo, server.getLocalPort());
        Socket accepted = server.accept()) {
      RingBufferReader ring = capture.ringBuffer();
      byte[] request =
          ("GET /loss HTTP/1.1\r\nHost: x\r\nX-Pad: " + "p".repeat(REQUEST_PADDING_BYTES) + "\r\n\r\n")
              .getBytes(US_ASCII);
      byte[] response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".getBytes(US_ASCII);
      OutputStream out = client.getOutputStream();
      InputStream in = accepted.getInputStream();
      // A burst while nobody drains the ring: it fills, later events are dropped.
      for (int i = 0; i < REQUESTS_WHILE_NOT_READING; i++) {
        out.write(request);
        out.flush();
        in.readNBytes(request.length);
        accepted.getOutputStream().write(response);
        client.getInputStream().readNBytes(response.length);
      }
      long dropped = capture.lossCounters().ringbufFull();
      assertThat(dropped).as("events dropped on a full ring").isPositive();
      while (ring.poll(tracker, 0) > 0) {
        // drain what the ring kept
      }
      // After the drain, one more exchange: its offsets are past the dropped bytes.
      out.write(request);
      out.flush();
      in.readNBytes(request.length);
      accepted.getOutputStream().write(response);
      client.getInputStream().readNBytes(response.length);
      long deadline = System.nanoTime() + 10_000_000_000L;
      while (System.nanoTime() < deadline && metrics.loss(LossCause.STREAM_GAP).get() == 0) {
        ring.poll(tracker, 20);
      }
      assertThat(metrics.loss(LossCause.STREAM_GAP).get())
          .as("gaps the HTTP stage saw in the stream")
          .isPositive();
      assertThat(capture.lossCounters().eventsEmitted()).isPositive();
    }
    tracker.closeAll();
  }

  /**
   * Opened before the capture, a connection's role is unknown to the kernel: which direction
   * carries requests then comes from its first HTTP bytes.
   */
  @ParameterizedTest(name = "connection opened before the capture: {0}")
  @ValueSource(booleans = {false, true})
  void aCrowdedRingShedsWholeExchangesAndReportsTheOthersWhole(boolean openedBeforeCapture)
      throws Exception {
    Privileges.requireRoot();
    Recorder recorder = new Recorder();
    AgentMetrics metrics = recorder.metrics;
    List<HttpExchange> ended = recorder.ended;
    ConnectionTracker tracker = recorder.tracker;
    InetAddress lo = InetAddress.getByName("127.0.0.1");
    CaptureSettings settings = smallRing();
    KernelCapture early = null;
    if (!openedBeforeCapture) {
      early = KernelCapture.open(settings);
    }
    try (ServerSocket server = new ServerSocket(0, 1, lo);
        Socket client = new Socket(lo, server.getLocalPort());
        Socket accepted = server.accept();
        KernelCapture capture = early != null ? early : openAfter(settings, client, accepted)) {
      assertThat(capture.settings().shedBytes()).isEqualTo(SMALL_RING_BYTES / 2);
      int port = server.getLocalPort();
      RingBufferReader ring = capture.ringBuffer();
      // A burst while nobody drains the ring: it fills to half, then exchanges are shed.
      for (int i = 0; i < REQUESTS_WHILE_NOT_READING; i++) {
        exchange(client, accepted, "/burst/" + i);
      }
      long shed = capture.lossCounters().exchangesShed();
      assertThat(shed).as("exchanges shed while the ring was crowded").isPositive();
      assertThat(capture.lossCounters().ringbufFull())
          .as("records dropped on a full ring: shedding kept room for the exchanges under way")
          .isZero();
      while (ring.poll(tracker, 0) > 0) {
        // drain what the ring kept
      }
      // Drained: the ring is no longer crowded, the next exchanges are reported again.
      for (int i = 0; i < EXCHANGES_AFTER_DRAIN; i++) {
        exchange(client, accepted, "/after/" + i);
      }
      long deadline = System.nanoTime() + 10_000_000_000L;
      while (System.nanoTime() < deadline && after(ended, port) < 2 * EXCHANGES_AFTER_DRAIN) {
        ring.poll(tracker, 20);
      }
      assertThat(after(ended, port))
          .as("exchanges after the drain, client and server side")
          .isEqualTo(2 * EXCHANGES_AFTER_DRAIN);
      List<HttpExchange> ours = ended.stream().filter(x -> onPort(x, port)).toList();
      assertThat(ours)
          .as("every exchange reported is whole, with its own answer")
          .allSatisfy(
              x -> {
                assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
                assertThat(x.bytesMissing()).isFalse();
                assertThat(x.statusCode()).isEqualTo(200);
                assertThat(x.target()).startsWith("/");
              });
      long burstReported = ours.size() - 2L * EXCHANGES_AFTER_DRAIN;
      assertThat(burstReported).as("burst exchanges reported before the ring was crowded").isPositive();
      assertThat(burstReported + shed)
          .as("each side of each burst exchange was either reported or shed")
          .isGreaterThanOrEqualTo(2L * REQUESTS_WHILE_NOT_READING);
      // The offsets jumped over the shed exchanges: not a gap, nothing lost in the stream.
      for (LossCause cause :
          List.of(
              LossCause.STREAM_GAP,
              LossCause.STREAM_RESYNC,
              LossCause.STREAM_DECODER_ERROR,
              LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST)) {
        assertThat(metrics.loss(cause).get()).as(cause.toString()).isZero();
      }
    }
    tracker.closeAll();
  }

  /**
   * Whether an exchange is shed is decided by the call that brings its first bytes: a read that
   * finds nothing yet (EAGAIN on a non-blocking socket, as event loops do right after answering)
   * decides nothing.
   */
  @Test
  void aReadThatFindsNothingDoesNotDecideTheNextExchange() throws Exception {
    Privileges.requireRoot();
    Recorder recorder = new Recorder();
    AgentMetrics metrics = recorder.metrics;
    List<HttpExchange> ended = recorder.ended;
    ConnectionTracker tracker = recorder.tracker;
    InetAddress lo = InetAddress.getByName("127.0.0.1");
    try (KernelCapture capture = KernelCapture.open(smallRing());
        ServerSocketChannel serverA = ServerSocketChannel.open().bind(new InetSocketAddress(lo, 0));
        SocketChannel clientA = SocketChannel.open(serverA.getLocalAddress());
        SocketChannel acceptedA = serverA.accept();
        ServerSocket serverB = new ServerSocket(0, 1, lo);
        Socket clientB = new Socket(lo, serverB.getLocalPort());
        Socket acceptedB = serverB.accept()) {
      int portA = ((InetSocketAddress) serverA.getLocalAddress()).getPort();
      exchange(clientA.socket(), acceptedA.socket(), "/a/0");
      // The server looks for its next request before there is one.
      acceptedA.configureBlocking(false);
      assertThat(acceptedA.read(ByteBuffer.allocate(64))).as("a read that finds nothing").isZero();
      acceptedA.configureBlocking(true);
      // Another connection's burst crowds the ring (nobody drains it).
      for (int i = 0; i < REQUESTS_WHILE_NOT_READING; i++) {
        exchange(clientB, acceptedB, "/b/" + i);
      }
      long shedBefore = capture.lossCounters().exchangesShed();
      assertThat(shedBefore).isPositive();
      // A's next request comes while the ring is crowded: both of its sides are shed.
      exchange(clientA.socket(), acceptedA.socket(), "/a/1");
      assertThat(capture.lossCounters().exchangesShed()).isGreaterThanOrEqualTo(shedBefore + 2);
      RingBufferReader ring = capture.ringBuffer();
      while (ring.poll(tracker, 0) > 0) {
        // drain
      }
      List<String> reportedA =
          ended.stream().filter(x -> onPort(x, portA)).map(x -> x.side() + " " + x.target()).toList();
      assertThat(reportedA)
          .as("A's exchanges reported")
          .containsExactlyInAnyOrder("CLIENT /a/0", "SERVER /a/0");
    }
    tracker.closeAll();
  }

  /** The HTTP stage the tests drain the ring into, and what it ended. */
  private static final class Recorder {
    final AgentMetrics metrics = new AgentMetrics();
    final List<HttpExchange> ended = new CopyOnWriteArrayList<>();
    final ConnectionTracker tracker =
        new ConnectionTracker(HttpSettings.defaults(), ended::add, metrics);
  }

  /** A small ring (shedding at its half), this process traced, the reader woken only by polls. */
  private static CaptureSettings smallRing() {
    return CaptureSettings.builder()
        .setSelfTgid(0)
        .setRingBufferBytes(SMALL_RING_BYTES)
        .setWakeupBytes(0)
        .build();
  }

  /** Opens the capture after an exchange on a connection that is already open (not seen). */
  private static KernelCapture openAfter(CaptureSettings settings, Socket client, Socket accepted)
      throws Exception {
    exchange(client, accepted, "/before");
    return KernelCapture.open(settings);
  }

  private static void exchange(Socket client, Socket accepted, String path) throws Exception {
    byte[] request =
        ("GET " + path + " HTTP/1.1\r\nHost: x\r\nX-Pad: " + "p".repeat(REQUEST_PADDING_BYTES) + "\r\n\r\n")
            .getBytes(US_ASCII);
    byte[] response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(US_ASCII);
    client.getOutputStream().write(request);
    client.getOutputStream().flush();
    accepted.getInputStream().readNBytes(request.length);
    accepted.getOutputStream().write(response);
    client.getInputStream().readNBytes(response.length);
  }

  private static boolean onPort(HttpExchange x, int port) {
    return x.connection().localPort() == port || x.connection().remotePort() == port;
  }

  private static long after(List<HttpExchange> ended, int port) {
    return ended.stream().filter(x -> onPort(x, port) && x.target().startsWith("/after/")).count();
  }
}
