package dev.wirespan.capture;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.http.ConnectionTracker;
import dev.wirespan.http.ExchangeListener;
import dev.wirespan.http.HttpExchange;
import dev.wirespan.http.HttpSettings;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.LossCause;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Events the kernel could not deliver are counted there, and the hole they leave in the byte
 * stream is seen and counted by the HTTP stage: loss is never silent.
 */
class KernelLossTest {
  /** Smallest ring: a handful of events fill it. */
  private static final int TINY_RING_BYTES = 4096;
  private static final int REQUESTS_WHILE_NOT_READING = 200;
  private static final int REQUEST_PADDING_BYTES = 900;

  @Test
  void aFullRingBufferIsCountedInTheKernelAndTheGapInTheStream() throws Exception {
    Privileges.requireRoot();
    AgentMetrics metrics = new AgentMetrics();
    AtomicLong exchanges = new AtomicLong();
    ConnectionTracker tracker =
        new ConnectionTracker(
            HttpSettings.defaults(),
            new ExchangeListener() {
              @Override
              public void onExchangeEnd(HttpExchange exchange) {
                exchanges.incrementAndGet();
              }
            },
            metrics);
    InetAddress lo = InetAddress.getByName("127.0.0.1");
    try (KernelCapture capture =
            KernelCapture.open(
                CaptureSettings.builder()
                    .setSelfTgid(0)
                    .setRingBufferBytes(TINY_RING_BYTES)
                    .setWakeupBytes(0)
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
}
