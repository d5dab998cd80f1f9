package dev.wirespan.http;

import static dev.wirespan.http.Conversation.ascii;
import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.http.Conversation.Party;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.LossCause;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The HTTP stage stays within its memory budget under load and hostile peers, measured on the JVM
 * heap (after garbage collection) as well as by the tracker's own accounting.
 */
class ConnectionTrackerBoundsTest {
  private static final int IDLE_CONNECTIONS = 10_000;
  /** Heap an idle keep-alive connection may retain: its addresses, ids and a few fields. */
  private static final long MAX_IDLE_CONNECTION_HEAP_BYTES = 2 * 1024;
  private static final int SHORT_CONNECTIONS = 100_000;
  private static final int MANY_PARTIAL_CONNECTIONS = 10_000;
  /** A tracked connection (~640 bytes) and its test wire (~350 bytes), with some slack. */
  private static final long TRACKED_CONNECTION_HEAP_BYTES = 1536;
  /** What 100k closed connections may leave behind: nothing but noise (map capacity, JIT). */
  private static final long MAX_HEAP_GROWTH_AFTER_SHORT_CONNECTIONS_BYTES = 4L * 1024 * 1024;
  private static final int SLOW_LORIS_CONNECTIONS = 2_000;
  private static final int SLOW_LORIS_TOTAL_BYTES = 4 * 1024 * 1024;
  /** Heap parsed header lines may cost per byte counted (Strings, header entries). */
  private static final long SLOW_LORIS_HEAP_FACTOR = 3;
  private static final int HEADER_LINE_BYTES = 100;
  private static final int HUGE_HEADER_BLOCK_BYTES = 1024 * 1024;
  private static final int WRITE_BYTES = 64 * 1024;
  private static final int HEADER_WRITE_BYTES = 1024;
  private static final int ENDLESS_BODY_WRITES = 2_000;
  /** Heap an endless body may cost however long it runs: no body byte is kept. */
  private static final long MAX_ENDLESS_BODY_HEAP_GROWTH_BYTES = 4L * 1024 * 1024;
  private static final int GC_ROUNDS = 5;
  private static final long GC_PAUSE_MILLIS = 50;
  private static final String OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

  private static final MemoryMXBean MEMORY = ManagementFactory.getMemoryMXBean();

  /** A tracker without the leak-checking allocator (which keeps every buffer it made). */
  private static final class Lean {
    final AgentMetrics metrics = new AgentMetrics();
    final CountingListener listener = new CountingListener();
    final ConnectionTracker tracker;

    Lean(HttpSettings settings) {
      tracker =
          new ConnectionTracker(
              settings, listener, metrics, new UnpooledByteBufAllocator(false, true));
    }

    long loss(LossCause cause) {
      return metrics.loss(cause).get();
    }
  }

  /** Counts ended exchanges by outcome and keeps none. */
  private static final class CountingListener implements ExchangeListener {
    final long[] byOutcome = new long[HttpExchange.Outcome.values().length];

    @Override
    public void onExchangeEnd(HttpExchange exchange) {
      byOutcome[exchange.outcome().ordinal()]++;
    }

    long count(HttpExchange.Outcome outcome) {
      return byOutcome[outcome.ordinal()];
    }
  }

  @Test
  void tenThousandIdleKeepAliveConnectionsRetainLittleHeapEach() {
    Lean run = new Lean(HttpSettings.defaults());
    byte[] request = ascii("GET /orders/42?page=1 HTTP/1.1\r\nHost: orders\r\nUser-Agent: t\r\n\r\n");
    byte[] response = ascii(OK);
    // Warm up: decoders pooled, classes loaded, the connection map sized.
    exchangeOn(run.tracker, -1, request, response);
    long before = usedHeapAfterGc();
    for (int i = 0; i < IDLE_CONNECTIONS; i++) {
      exchangeOn(run.tracker, i, request, response);
    }
    long after = usedHeapAfterGc();
    long perConnection = (after - before) / IDLE_CONNECTIONS;
    System.out.println("idle keep-alive connection: " + perConnection + " bytes of heap");
    assertThat(run.tracker.connectionCount()).isEqualTo(IDLE_CONNECTIONS + 1);
    assertThat(run.listener.count(HttpExchange.Outcome.COMPLETE)).isEqualTo(IDLE_CONNECTIONS + 1);
    assertThat(run.tracker.bufferedBytes()).isZero();
    assertThat(run.tracker.activeDecoders()).isZero();
    assertThat(perConnection)
        .as("heap per idle keep-alive connection: %d bytes", perConnection)
        .isLessThan(MAX_IDLE_CONNECTION_HEAP_BYTES);
    Reference.reachabilityFence(run);
  }

  @Test
  void hundredThousandShortConnectionsLeaveNothingBehind() {
    Lean run = new Lean(HttpSettings.defaults());
    byte[] request = ascii("GET /health HTTP/1.1\r\nHost: orders\r\n\r\n");
    byte[] response = ascii(OK);
    for (int i = 0; i < 1000; i++) { // warm up
      exchangeOn(run.tracker, i, request, response).close();
    }
    long before = usedHeapAfterGc();
    for (int i = 0; i < SHORT_CONNECTIONS; i++) {
      exchangeOn(run.tracker, 1000 + i, request, response).close();
    }
    long after = usedHeapAfterGc();
    System.out.println("heap after 100k short connections: " + (after - before) + " bytes more");
    assertThat(run.tracker.connectionCount()).isZero();
    assertThat(run.tracker.bufferedBytes()).isZero();
    assertThat(run.tracker.activeDecoders()).isZero();
    assertThat(run.listener.count(HttpExchange.Outcome.COMPLETE)).isEqualTo(SHORT_CONNECTIONS + 1000);
    assertThat(after - before).isLessThan(MAX_HEAP_GROWTH_AFTER_SHORT_CONNECTIONS_BYTES);
    Reference.reachabilityFence(run);
  }

  @Test
  void slowLorisHeaderBlocksStayWithinTheTotalAndAreCounted() {
    HttpSettings settings =
        HttpSettings.builder().setMaxBufferedBytesTotal(SLOW_LORIS_TOTAL_BYTES).build();
    Lean run = new Lean(settings);
    List<Wire> wires = new ArrayList<>();
    long[] offsets = new long[SLOW_LORIS_CONNECTIONS];
    long heapBefore = usedHeapAfterGc();
    for (int i = 0; i < SLOW_LORIS_CONNECTIONS; i++) {
      Wire w = new Wire(run.tracker, HttpExchange.Side.SERVER, i + 1).withoutHistory();
      byte[] line = ascii("GET /slow HTTP/1.1\r\n");
      w.data(Party.REQUESTS, 0, line, 0, line.length);
      offsets[i] = line.length;
      wires.add(w);
    }
    // Every connection sends header lines, one write each, round after round, never ending
    // its header block; Netty keeps each line it parsed in the request it builds.
    byte[] header = ascii("X-Slow: " + "a".repeat(HEADER_LINE_BYTES - 10) + "\r\n");
    long peak = 0;
    int rounds = settings.maxHeaderBytes() / header.length - 1;
    for (int round = 0; round < rounds; round++) {
      for (int i = 0; i < SLOW_LORIS_CONNECTIONS; i++) {
        wires.get(i).data(Party.REQUESTS, offsets[i], header, 0, header.length);
        offsets[i] += header.length;
        peak = Math.max(peak, run.tracker.bufferedBytes());
        assertThat(run.tracker.bufferedBytes()).isLessThanOrEqualTo(SLOW_LORIS_TOTAL_BYTES);
      }
    }
    long heapGrowth = usedHeapAfterGc() - heapBefore;
    long dropped = run.loss(LossCause.STREAM_BUFFER_LIMIT);
    System.out.println(
        "slow loris: peak " + peak + " bytes buffered of " + SLOW_LORIS_TOTAL_BYTES
            + ", partial header blocks dropped over the limit: " + dropped
            + ", heap held " + heapGrowth + " bytes");
    // Each connection would hold ~16 KiB: 32 MiB in all, far over the 4 MiB total.
    assertThat(peak).isGreaterThan(SLOW_LORIS_TOTAL_BYTES / 2);
    assertThat(dropped).isPositive();
    assertThat(run.listener.count(HttpExchange.Outcome.COMPLETE)).isZero();
    // Parsed header lines cost more than their bytes (strings, header entries), and each
    // connection its fields: a small multiple of the budget, not the 32 MiB sent.
    assertThat(heapGrowth)
        .as("heap held by %d slow-loris connections: %d bytes", SLOW_LORIS_CONNECTIONS, heapGrowth)
        .isLessThan(SLOW_LORIS_HEAP_FACTOR * SLOW_LORIS_TOTAL_BYTES
            + SLOW_LORIS_CONNECTIONS * MAX_IDLE_CONNECTION_HEAP_BYTES);
    run.tracker.closeAll();
    assertThat(run.tracker.bufferedBytes()).isZero();
    assertThat(run.tracker.activeDecoders()).isZero();
    Reference.reachabilityFence(wires);
  }

  @Test
  void manyConnectionsEachInsideAMessageHoldFewDecoders() {
    // A few bytes of a header block on each of many connections: every one would hold a
    // decoder (~2 KiB of heap) although its bytes are few. Decoder state counts against the
    // total, so the number of connections inside a message is bounded by it too.
    long total = 1024 * 1024;
    HttpSettings settings = HttpSettings.builder().setMaxBufferedBytesTotal(total).build();
    Lean run = new Lean(settings);
    byte[] partial = ascii("GET /partial HTTP/1.1\r\nX");
    List<Wire> wires = new ArrayList<>();
    long heapBefore = usedHeapAfterGc();
    for (int i = 0; i < MANY_PARTIAL_CONNECTIONS; i++) {
      Wire w = new Wire(run.tracker, HttpExchange.Side.SERVER, i + 1).withoutHistory();
      w.data(Party.REQUESTS, 0, partial, 0, partial.length);
      wires.add(w);
      assertThat(
              run.tracker.bufferedBytes()
                  + (long) run.tracker.activeDecoders() * ConnectionTracker.DECODER_STATE_BYTES)
          .isLessThanOrEqualTo(total);
    }
    long heapGrowth = usedHeapAfterGc() - heapBefore;
    System.out.println(
        MANY_PARTIAL_CONNECTIONS + " connections inside a message: " + run.tracker.activeDecoders()
            + " decoders held, heap " + heapGrowth + " bytes");
    assertThat(run.loss(LossCause.STREAM_BUFFER_LIMIT)).isPositive();
    assertThat(run.tracker.activeDecoders())
        .isLessThanOrEqualTo((int) (total / ConnectionTracker.DECODER_STATE_BYTES));
    assertThat(heapGrowth)
        .as("heap held by %d connections inside a message: %d bytes", MANY_PARTIAL_CONNECTIONS, heapGrowth)
        .isLessThan(SLOW_LORIS_HEAP_FACTOR * total + MANY_PARTIAL_CONNECTIONS * TRACKED_CONNECTION_HEAP_BYTES);
    run.tracker.closeAll();
    assertThat(run.tracker.activeDecoders()).isZero();
    Reference.reachabilityFence(wires);
  }

  @Test
  void slowLorisRequestLinesPickedUpMidStreamStayWithinTheTotal() {
    // Connections first seen mid-stream gather bytes that may begin a request: a request line
    // sent a few bytes at a time on many of them must not escape the limits either.
    HttpSettings settings =
        HttpSettings.builder().setMaxBufferedBytesTotal(HttpSettings.DEFAULT_MAX_BUFFERED_BYTES_PER_CONNECTION).build();
    TrackerRun run = new TrackerRun(settings);
    int connections = 200;
    byte[] start = ascii("GET /");
    byte[] more = ascii("a".repeat(64));
    for (int i = 0; i < connections; i++) {
      Wire w = new Wire(run.tracker, HttpExchange.Side.SERVER, i + 1, CaptureEvent.ConnectionRole.UNKNOWN);
      long offset = 1000;
      w.data(Party.REQUESTS, offset, start, 0, start.length);
      offset += start.length;
      for (int k = 0; k < 100; k++) {
        w.data(Party.REQUESTS, offset, more, 0, more.length);
        offset += more.length;
        assertThat(run.tracker.bufferedBytes()).isLessThanOrEqualTo(settings.maxBufferedBytesTotal());
      }
    }
    assertThat(run.loss(LossCause.STREAM_BUFFER_LIMIT)).isPositive();
    run.finish("gathered request lines");
  }

  @Test
  void aOneMebibyteHeaderBlockIsADecoderErrorWithBoundedMemory() {
    for (HttpExchange.Side side : HttpExchange.Side.values()) {
      TrackerRun run = new TrackerRun();
      Wire w = run.wire(side, 1);
      StringBuilder block = new StringBuilder("GET /big HTTP/1.1\r\nHost: h\r\n");
      while (block.length() < HUGE_HEADER_BLOCK_BYTES) {
        block.append("X-Big: ").append("b".repeat(HEADER_LINE_BYTES - 9)).append("\r\n");
      }
      byte[] big = ascii(block.append("\r\n").toString());
      long peak = 0;
      // Small writes, so that the block grows in the decoder up to Netty's header limit.
      for (int at = 0; at < big.length; at += HEADER_WRITE_BYTES) {
        w.data(Party.REQUESTS, at, big, at, Math.min(HEADER_WRITE_BYTES, big.length - at));
        peak = Math.max(peak, run.tracker.bufferedBytes());
      }
      byte[] tooLarge = ascii("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n");
      w.data(Party.RESPONSES, 0, tooLarge, 0, tooLarge.length);
      byte[] next = ascii("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
      w.data(Party.REQUESTS, big.length, next, 0, next.length);
      byte[] ok = ascii(OK);
      w.data(Party.RESPONSES, tooLarge.length, ok, 0, ok.length);

      System.out.println(side + " 1 MiB header block: peak " + peak + " bytes buffered");
      assertThat(peak)
          .isGreaterThan(HttpSettings.DEFAULT_MAX_HEADER_BYTES / 2)
          .isLessThanOrEqualTo(HttpSettings.DEFAULT_MAX_HEADER_BYTES + HEADER_WRITE_BYTES);
      assertThat(run.listener.ended).extracting(HttpExchange::target).containsExactly("/next");
      assertThat(run.listener.ended.get(0).statusCode()).isEqualTo(200);
      run.assertLosses(side.name(), Map.of(
          LossCause.STREAM_DECODER_ERROR, 1L,
          LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L));
      run.finish(side.name());
    }
  }

  @Test
  void aResponseThatNeverEndsKeepsNoBodyAndEndsAtEviction() {
    for (String framing : new String[] {"Content-Length: 1000000000000", "Transfer-Encoding: chunked"}) {
      Lean run = new Lean(HttpSettings.defaults());
      Wire w = new Wire(run.tracker, HttpExchange.Side.CLIENT, 1);
      byte[] request = ascii("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
      w.data(Party.REQUESTS, 0, request, 0, request.length);
      byte[] head = ascii("HTTP/1.1 200 OK\r\n" + framing + "\r\n\r\n");
      w.data(Party.RESPONSES, 0, head, 0, head.length);
      boolean chunked = framing.startsWith("Transfer");
      byte[] piece = chunked
          ? ascii(Integer.toHexString(WRITE_BYTES) + "\r\n" + "c".repeat(WRITE_BYTES) + "\r\n")
          : ascii("c".repeat(WRITE_BYTES));
      long offset = head.length;
      long before = 0;
      long peakBuffered = 0;
      for (int i = 0; i < ENDLESS_BODY_WRITES; i++) {
        if (i == ENDLESS_BODY_WRITES / 10) {
          before = usedHeapAfterGc();
        }
        w.data(Party.RESPONSES, offset, piece, 0, piece.length);
        offset += piece.length;
        peakBuffered = Math.max(peakBuffered, run.tracker.bufferedBytes());
      }
      long growth = usedHeapAfterGc() - before;
      System.out.println(framing + ": " + offset + " body bytes, heap growth " + growth
          + " bytes, peak buffered " + peakBuffered);
      assertThat(peakBuffered).isLessThan(WRITE_BYTES);
      assertThat(growth).isLessThan(MAX_ENDLESS_BODY_HEAP_GROWTH_BYTES);
      // Still streaming: the response timeout does not apply to a response being read.
      run.tracker.expire(w.now() + HttpSettings.DEFAULT_RESPONSE_TIMEOUT.toNanos());
      assertThat(run.listener.count(HttpExchange.Outcome.TIMED_OUT)).isZero();
      // It stops: the idle connection is evicted and its exchange ends, counted.
      run.tracker.expire(w.now() + HttpSettings.DEFAULT_IDLE_CONNECTION_TIMEOUT.toNanos());
      assertThat(run.listener.count(HttpExchange.Outcome.EVICTED)).isEqualTo(1);
      assertThat(run.loss(LossCause.PAIRING_CONNECTION_EVICTED)).isEqualTo(1);
      assertThat(run.tracker.connectionCount()).isZero();
      assertThat(run.tracker.activeDecoders()).isZero();
      assertThat(run.tracker.bufferedBytes()).isZero();
    }
  }

  /** One exchange on a new server connection, left open; returns its wire. */
  private static Wire exchangeOn(ConnectionTracker tracker, long id, byte[] request, byte[] response) {
    Wire w = new Wire(tracker, HttpExchange.Side.SERVER, id);
    w.data(Party.REQUESTS, 0, request, 0, request.length);
    w.data(Party.RESPONSES, 0, response, 0, response.length);
    return w;
  }

  private static long usedHeapAfterGc() {
    long used = Long.MAX_VALUE;
    for (int i = 0; i < GC_ROUNDS; i++) {
      System.gc();
      try {
        Thread.sleep(GC_PAUSE_MILLIS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
      used = Math.min(used, MEMORY.getHeapMemoryUsage().getUsed());
    }
    return used;
  }
}
