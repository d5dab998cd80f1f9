package dev.wirespan.http;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.util.Objects;

/**
 * The connection an exchange travelled on, as seen by the traced process.
 *
 * @param pid process id of the traced process
 * @param cgroupId cgroup v2 id of the process (0 when unknown)
 * @param connectionId the kernel side's id of the connection (unique, survives fd reuse)
 * @param fd the socket's file descriptor in the traced process
 * @param localAddress the traced process's end
 * @param remoteAddress the peer's end
 * @param processName the traced process's name (its comm, at most 15 characters) as the kernel
 *     recorded it with the connection's first event: it names the process even after it exited;
 *     empty when unknown
 * @param localAddressText {@code localAddress} as exported (RFC 5952 text for IPv6), made once
 *     per connection rather than once per span
 * @param remoteAddressText {@code remoteAddress} as exported
 */
public record ConnectionInfo(
    int pid,
    long cgroupId,
    long connectionId,
    int fd,
    InetAddress localAddress,
    int localPort,
    InetAddress remoteAddress,
    int remotePort,
    String processName,
    String localAddressText,
    String remoteAddressText) {
  public ConnectionInfo {
    Objects.requireNonNull(localAddress, "localAddress");
    Objects.requireNonNull(remoteAddress, "remoteAddress");
    Objects.requireNonNull(processName, "processName");
    Objects.requireNonNull(localAddressText, "localAddressText");
    Objects.requireNonNull(remoteAddressText, "remoteAddressText");
  }

  /** With the address texts made from the addresses. */
  public ConnectionInfo(
      int pid,
      long cgroupId,
      long connectionId,
      int fd,
      InetAddress localAddress,
      int localPort,
      InetAddress remoteAddress,
      int remotePort,
      String processName) {
    this(
        pid,
        cgroupId,
        connectionId,
        fd,
        localAddress,
        localPort,
        remoteAddress,
        remotePort,
        processName,
        NetUtil.toAddressString(Objects.requireNonNull(localAddress, "localAddress")),
        NetUtil.toAddressString(Objects.requireNonNull(remoteAddress, "remoteAddress")));
  }
}
