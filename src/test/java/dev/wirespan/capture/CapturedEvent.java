package dev.wirespan.capture;

import java.net.InetAddress;

/** A copy of one ring buffer record, kept by tests after the view moved on. */
record CapturedEvent(
    int type,
    CaptureEvent.Direction direction,
    CaptureEvent.ConnectionRole role,
    int family,
    int flags,
    int localPort,
    int remotePort,
    int pid,
    int tid,
    int fd,
    long timestampNanos,
    long connectionId,
    long cgroupId,
    long streamOffset,
    long length,
    InetAddress localAddress,
    InetAddress remoteAddress,
    String processName,
    int tailCaptured,
    byte[] payload) {

  static CapturedEvent copyOf(CaptureEvent e) {
    byte[] payload = new byte[e.captured()];
    for (int i = 0; i < payload.length; i++) {
      payload[i] = e.payloadByte(i);
    }
    return new CapturedEvent(
        e.type(),
        e.direction(),
        e.role(),
        e.family(),
        e.flags(),
        e.localPort(),
        e.remotePort(),
        e.pid(),
        e.tid(),
        e.fd(),
        e.timestampNanos(),
        e.connectionId(),
        e.cgroupId(),
        e.streamOffset(),
        e.length(),
        e.localAddress(),
        e.remoteAddress(),
        e.processName(),
        e.tailCaptured(),
        payload);
  }

  /** The first bytes the call moved. */
  byte[] head() {
    return java.util.Arrays.copyOfRange(payload, 0, payload.length - tailCaptured);
  }

  /** The last bytes the call moved (empty unless it moved more than the cap). */
  byte[] tail() {
    return java.util.Arrays.copyOfRange(payload, payload.length - tailCaptured, payload.length);
  }

  boolean isData() {
    return type == CaptureEvent.TYPE_DATA;
  }

  boolean isClose() {
    return type == CaptureEvent.TYPE_CLOSE;
  }

  /** This side of the connection between the two ports. */
  boolean between(int local, int remote) {
    return localPort == local && remotePort == remote;
  }

  boolean touches(int port) {
    return localPort == port || remotePort == port;
  }
}
