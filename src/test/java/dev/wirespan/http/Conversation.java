package dev.wirespan.http;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** What the two ends of one connection sent, in causal order: request and response bytes, close. */
final class Conversation {
  /** Which stream a step belongs to. */
  enum Party {
    REQUESTS,
    RESPONSES
  }

  /** Bytes [start, end) of one party's stream. */
  record Range(Party party, long start, long end) {
    Range to(Range last) {
      return new Range(party, start, last.end);
    }
  }

  /** One write by one end (delivered as one or more syscalls), or the close. */
  record Step(Party party, byte[] bytes, long offset, boolean close) {}

  private final List<Step> steps = new ArrayList<>();
  private long requestOffset;
  private long responseOffset;

  Range request(String text) {
    return request(text.getBytes(StandardCharsets.ISO_8859_1));
  }

  Range response(String text) {
    return response(text.getBytes(StandardCharsets.ISO_8859_1));
  }

  Range request(byte[] bytes) {
    Range r = new Range(Party.REQUESTS, requestOffset, requestOffset + bytes.length);
    steps.add(new Step(Party.REQUESTS, bytes, requestOffset, false));
    requestOffset += bytes.length;
    return r;
  }

  Range response(byte[] bytes) {
    Range r = new Range(Party.RESPONSES, responseOffset, responseOffset + bytes.length);
    steps.add(new Step(Party.RESPONSES, bytes, responseOffset, false));
    responseOffset += bytes.length;
    return r;
  }

  /** Sub-range of a step: [from, to) relative to the range's start. */
  static Range part(Range r, long from, long to) {
    return new Range(r.party(), r.start() + from, r.start() + to);
  }

  void close() {
    steps.add(new Step(Party.REQUESTS, new byte[0], 0, true));
  }

  List<Step> steps() {
    return steps;
  }

  static byte[] concat(byte[]... parts) {
    int n = 0;
    for (byte[] p : parts) {
      n += p.length;
    }
    byte[] out = new byte[n];
    int at = 0;
    for (byte[] p : parts) {
      System.arraycopy(p, 0, out, at, p.length);
      at += p.length;
    }
    return out;
  }

  static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }
}
