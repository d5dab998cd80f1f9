package dev.wirespan.http;

import static dev.wirespan.http.Conversation.ascii;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.http.Conversation.Party;
import java.util.Arrays;

/**
 * One connection's two byte streams as tests write them: each write goes out as data events at the
 * stream's current end, so offsets stay consecutive unless bytes are deliberately lost.
 */
final class Streams {
  private static final String NEXT_REQUEST = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  private static final String NEXT_RESPONSE = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

  final Wire wire;
  long requests;
  long responses;
  /** Per party: bytes were shed since its last event, which must say so. */
  private boolean requestsShed;
  private boolean responsesShed;

  Streams(Wire wire) {
    this(wire, 0, 0);
  }

  /** Streams whose ends are already at these offsets (a connection seen mid-stream). */
  Streams(Wire wire, long requests, long responses) {
    this.wire = wire;
    this.requests = requests;
    this.responses = responses;
  }

  void request(String text) {
    send(Party.REQUESTS, ascii(text));
  }

  void response(String text) {
    send(Party.RESPONSES, ascii(text));
  }

  /** One request and its response, each in one write. */
  void exchange(String request, String response) {
    request(request);
    response(response);
  }

  /** A whole exchange that must decode normally. */
  void nextExchange() {
    exchange(NEXT_REQUEST, NEXT_RESPONSE);
  }

  void whole(Party party, String text) {
    send(party, ascii(text));
  }

  /** Every event carries one byte. */
  void byteWise(Party party, String text) {
    byte[] b = ascii(text);
    int[] sizes = new int[b.length];
    Arrays.fill(sizes, 1);
    send(party, b, sizes);
  }

  /** {@code bytes} in events of the given sizes (one event when none are given). */
  void send(Party party, byte[] bytes, int... sizes) {
    if (sizes.length == 0) {
      sizes = new int[] {bytes.length};
    }
    int at = 0;
    for (int size : sizes) {
      if (takeShed(party)) {
        wire.flagNext(CaptureEvent.FLAG_AFTER_SHED);
      }
      wire.data(party, end(party) + at, bytes, at, size);
      at += size;
    }
    if (at != bytes.length) {
      throw new IllegalArgumentException("sizes add up to " + at + ", not " + bytes.length);
    }
    advance(party, bytes.length);
  }

  /** The syscall moved these bytes but its event never reached the agent. */
  void lose(Party party, int bytes) {
    advance(party, bytes);
  }

  /**
   * The kernel shed these bytes (whole exchanges, while its ring was crowded): never reported,
   * and the party's next event says so.
   */
  void shed(Party party, int bytes) {
    advance(party, bytes);
    if (party == Party.REQUESTS) {
      requestsShed = true;
    } else {
      responsesShed = true;
    }
  }

  /** Whether bytes of the party were shed since its last event; clears it. */
  private boolean takeShed(Party party) {
    boolean shed = party == Party.REQUESTS ? requestsShed : responsesShed;
    if (party == Party.REQUESTS) {
      requestsShed = false;
    } else {
      responsesShed = false;
    }
    return shed;
  }

  long end(Party party) {
    return party == Party.REQUESTS ? requests : responses;
  }

  /** Moves a stream's end past bytes a test wrote to the wire itself. */
  void advance(Party party, long bytes) {
    if (party == Party.REQUESTS) {
      requests += bytes;
    } else {
      responses += bytes;
    }
  }
}
