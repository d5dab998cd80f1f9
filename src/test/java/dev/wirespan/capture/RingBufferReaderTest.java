package dev.wirespan.capture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The reader's side of the kernel ring buffer protocol, on a ring laid out in memory the way the
 * kernel maps it (the data area twice): busy and discarded records, alignment, wrap-around.
 */
class RingBufferReaderTest {
  private static final int PAGE = 4096;
  private static final int CAPACITY = 4096;

  private final ByteBuffer consumer = ByteBuffer.allocateDirect(PAGE).order(ByteOrder.LITTLE_ENDIAN);
  private final ByteBuffer producer =
      ByteBuffer.allocateDirect(PAGE + 2 * CAPACITY).order(ByteOrder.LITTLE_ENDIAN);
  private final AtomicInteger waits = new AtomicInteger();
  private final AtomicInteger unmaps = new AtomicInteger();
  private final RingBufferReader reader =
      new RingBufferReader(
          consumer, producer, PAGE, CAPACITY, t -> waits.incrementAndGet(), unmaps::incrementAndGet);
  private long producerPos;

  @Test
  void deliversCommittedRecordsInOrderAndSkipsDiscarded() {
    long first = append("GET /a HTTP/1.1\r\n", 0);
    append("discarded", RingBufferReader.DISCARD_BIT);
    append("GET /b HTTP/1.1\r\n\r\n", 0);

    List<String> seen = pollAll(0);

    assertThat(seen).containsExactly("GET /a HTTP/1.1\r\n", "GET /b HTTP/1.1\r\n\r\n");
    assertThat(first).isZero();
    assertThat(consumer.getLong(0)).isEqualTo(producerPos);
    assertThat(reader.availableBytes()).isZero();
    assertThat(reader.recordsRead()).isEqualTo(2);
    assertThat(waits.get()).isZero(); // data was there: no wait
  }

  @Test
  void stopsAtABusyRecordUntilItIsCommitted() {
    append("one", 0);
    long busyAt = append("two", RingBufferReader.BUSY_BIT);
    append("three", 0);

    assertThat(pollAll(0)).containsExactly("one");
    assertThat(consumer.getLong(0)).isEqualTo(busyAt);
    assertThat(reader.availableBytes()).isEqualTo(producerPos - busyAt);

    int at = PAGE + (int) (busyAt & (CAPACITY - 1));
    int header = producer.getInt(at) & ~RingBufferReader.BUSY_BIT;
    producer.putInt(at, header);
    producer.putInt(at + CAPACITY, header);

    assertThat(pollAll(0)).containsExactly("two", "three");
    assertThat(consumer.getLong(0)).isEqualTo(producerPos);
  }

  @Test
  void readsRecordsThatWrapAroundTheEndContiguously() {
    // Fill to just before the end, consume, then write a record that crosses the end.
    String filler = "x".repeat(CAPACITY - CaptureEvent.HEADER_SIZE - 3 * RingBufferReader.RECORD_HEADER_BYTES - 200);
    append(filler, 0);
    assertThat(pollAll(0)).containsExactly(filler);
    long start = producerPos;
    String crossing = "GET /wrapped HTTP/1.1\r\n" + "y".repeat(300);
    append(crossing, 0);
    assertThat((start & (CAPACITY - 1)) + RingBufferReader.RECORD_HEADER_BYTES
            + CaptureEvent.HEADER_SIZE + crossing.length())
        .isGreaterThan(CAPACITY);

    assertThat(pollAll(0)).containsExactly(crossing);
    assertThat(consumer.getLong(0)).isEqualTo(producerPos);
  }

  @Test
  void waitsOnlyWhenEmptyAndSkipsMalformedRecords() {
    assertThat(reader.poll(e -> {}, 5)).isZero();
    assertThat(waits.get()).isEqualTo(1);

    // A committed record too short for an event header.
    int at = PAGE + (int) (producerPos & (CAPACITY - 1));
    putMirrored(at, 16);
    producerPos += 24;
    producer.putLong(0, producerPos);
    append("ok", 0);

    assertThat(pollAll(5)).containsExactly("ok");
    assertThat(reader.malformedRecords()).isEqualTo(1);
  }

  @Test
  void publishesTheConsumerPositionInStepsWhileDrainingAndAtTheEnd() {
    int initial = 4;
    int added = 60;
    for (int i = 0; i < initial; i++) {
      append("GET /" + i + " HTTP/1.1\r\n", 0);
    }
    // The kernel keeps writing while the reader drains: more than one step in all.
    List<Long> published = new ArrayList<>();
    AtomicInteger more = new AtomicInteger(added);
    reader.poll(
        e -> {
          long pos = consumer.getLong(0);
          if (published.isEmpty() || published.get(published.size() - 1) != pos) {
            published.add(pos);
          }
          if (more.getAndDecrement() > 0) {
            append("GET /more HTTP/1.1\r\n", 0);
          }
        },
        0);

    assertThat(reader.recordsRead()).isEqualTo(initial + added);
    assertThat(producerPos).isGreaterThan(2L * RingBufferReader.RELEASE_STEP_BYTES);
    assertThat(published.get(0)).isZero();
    assertThat(published).hasSizeGreaterThanOrEqualTo(2);
    for (int i = 1; i < published.size(); i++) {
      assertThat(published.get(i) - published.get(i - 1))
          .isGreaterThanOrEqualTo(RingBufferReader.RELEASE_STEP_BYTES);
    }
    assertThat(consumer.getLong(0)).isEqualTo(producerPos);
  }

  @Test
  void aRecordWhoseSinkThrowsIsReleasedAndNotDeliveredAgain() {
    append("one", 0);
    long second = append("two", 0);

    assertThatThrownBy(
            () ->
                reader.poll(
                    e -> {
                      throw new IllegalStateException("sink failed");
                    },
                    0))
        .hasMessage("sink failed");
    assertThat(consumer.getLong(0)).isEqualTo(second);
    assertThat(pollAll(0)).containsExactly("two");
    assertThat(consumer.getLong(0)).isEqualTo(producerPos);
  }

  @Test
  void closeUnmapsOnceAndPollingAfterwardsDeliversNothing() {
    append("late", 0);
    reader.close();
    reader.close();
    assertThat(unmaps.get()).isEqualTo(1);
    assertThat(pollAll(0)).isEmpty();
  }

  private List<String> pollAll(int timeoutMillis) {
    List<String> seen = new ArrayList<>();
    reader.poll(
        e -> {
          byte[] b = new byte[e.captured()];
          for (int i = 0; i < b.length; i++) {
            b[i] = e.payloadByte(i);
          }
          seen.add(new String(b, StandardCharsets.US_ASCII));
        },
        timeoutMillis);
    return seen;
  }

  /** Appends a record (header flags as given), as the kernel would; returns its position. */
  private long append(String payload, int flags) {
    byte[] bytes = payload.getBytes(StandardCharsets.US_ASCII);
    ByteBuffer record = new CaptureEventWriter().write(bytes);
    long pos = producerPos;
    int length = record.remaining();
    int at = (int) (pos & (CAPACITY - 1));
    putMirrored(PAGE + at, length | flags);
    for (int i = 0; i < length; i++) {
      int dataIndex = (at + RingBufferReader.RECORD_HEADER_BYTES + i) & (CAPACITY - 1);
      producer.put(PAGE + dataIndex, record.get(i));
      producer.put(PAGE + CAPACITY + dataIndex, record.get(i));
    }
    producerPos += (RingBufferReader.RECORD_HEADER_BYTES + length + 7) & ~7;
    producer.putLong(0, producerPos);
    return pos;
  }

  /** Writes a record header in both mappings of the data area. */
  private void putMirrored(int at, int header) {
    int dataIndex = (at - PAGE) & (CAPACITY - 1);
    producer.putInt(PAGE + dataIndex, header);
    producer.putInt(PAGE + CAPACITY + dataIndex, header);
  }
}
