package dev.wirespan.export;

import io.opentelemetry.exporter.sender.okhttp.internal.OkHttpGrpcSenderProvider;
import io.opentelemetry.sdk.common.export.GrpcSender;
import io.opentelemetry.sdk.common.export.GrpcSenderConfig;
import io.opentelemetry.sdk.common.export.GrpcSenderProvider;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;
import javax.net.SocketFactory;
import okhttp3.OkHttpClient;

/**
 * The SDK's OTLP/gRPC sender (OkHttp) on sockets with TCP_NODELAY. OkHttp leaves Nagle's algorithm
 * on, and a gRPC request leaves as several writes (HEADERS, then DATA frames): its last, short
 * segment is held until the collector acknowledges the previous one, and a receiver delays that
 * acknowledgement by about 40 ms. Measured on loopback against a grpc-java receiver with OkHttp's
 * defaults: every export of 30 spans took 45-60 ms, and a third of the 512-span exports took 48-52
 * ms where the others took 6-10. Under load it was worse: with nginx at ~30 k requests/s the agent
 * exported 2.6-3.0 k spans/s over OTLP/gRPC, the agent's default protocol, and dropped the rest at
 * its export queue (bench/README.md, 11:00). gRPC's own Java transports, Go's gRPC (the collector's) and the JDK's HttpClient (the
 * agent's OTLP/HTTP sender) all set TCP_NODELAY.
 *
 * <p>The SDK's sender builds its OkHttp client itself and takes no socket factory. This provider
 * creates the SDK's sender, then replaces its client with one derived from it ({@link
 * OkHttpClient#newBuilder()}: the same dispatcher, connection pool, timeouts and TLS) whose socket
 * factory sets TCP_NODELAY. Should a later SDK keep its client elsewhere, or a later JDK refuse to
 * set a final field, the sender is used as it is and a warning is logged; NoDelayGrpcSenderTest
 * fails on such an SDK or JDK. Connections through a SOCKS proxy are opened by OkHttp without the
 * factory and keep Nagle's algorithm.
 */
final class NoDelayGrpcSenderProvider implements GrpcSenderProvider {
  private static final Logger LOG = Logger.getLogger(NoDelayGrpcSenderProvider.class.getName());

  private final GrpcSenderProvider sdk = new OkHttpGrpcSenderProvider();
  private final NoDelaySocketFactory sockets = new NoDelaySocketFactory();

  @Override
  public GrpcSender createSender(GrpcSenderConfig config) {
    GrpcSender sender = sdk.createSender(config);
    String problem = useSockets(sender);
    if (problem != null) {
      LOG.warning(
          "OTLP/gRPC: cannot set TCP_NODELAY on the exporter's connections ("
              + problem
              + "); exports may wait ~40 ms each for the collector's delayed ACK");
    }
    return sender;
  }

  /** Sockets made for the exporters' connections (each with TCP_NODELAY), failed ones included. */
  long socketsCreated() {
    return sockets.created.get();
  }

  /** Puts the sender's OkHttp client on {@link #sockets}; the problem, or null when done. */
  private String useSockets(GrpcSender sender) {
    Field clientField = null;
    for (Field f : sender.getClass().getDeclaredFields()) {
      if (f.getType() == OkHttpClient.class && !Modifier.isStatic(f.getModifiers())) {
        if (clientField != null) {
          return "several OkHttp clients in " + sender.getClass().getName();
        }
        clientField = f;
      }
    }
    if (clientField == null) {
      return "no OkHttp client in " + sender.getClass().getName();
    }
    try {
      clientField.setAccessible(true);
      OkHttpClient client = (OkHttpClient) clientField.get(sender);
      clientField.set(sender, client.newBuilder().socketFactory(sockets).build());
      return null;
    } catch (ReflectiveOperationException | RuntimeException e) {
      return e.toString();
    }
  }

  /**
   * Plain sockets with TCP_NODELAY set before they connect. OkHttp only calls {@link
   * #createSocket()}; the others connect as {@link SocketFactory#getDefault()}'s do.
   */
  static final class NoDelaySocketFactory extends SocketFactory {
    private final AtomicLong created = new AtomicLong();

    @Override
    public Socket createSocket() throws IOException {
      Socket socket = new Socket();
      try {
        socket.setTcpNoDelay(true);
      } catch (IOException | RuntimeException e) {
        socket.close();
        throw e;
      }
      created.incrementAndGet();
      return socket;
    }

    @Override
    public Socket createSocket(String host, int port) throws IOException {
      return createSocket(InetAddress.getByName(host), port);
    }

    @Override
    public Socket createSocket(String host, int port, InetAddress localHost, int localPort)
        throws IOException {
      return createSocket(InetAddress.getByName(host), port, localHost, localPort);
    }

    @Override
    public Socket createSocket(InetAddress host, int port) throws IOException {
      return connected(new InetSocketAddress(host, port), null);
    }

    @Override
    public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort)
        throws IOException {
      return connected(
          new InetSocketAddress(address, port), new InetSocketAddress(localAddress, localPort));
    }

    private Socket connected(InetSocketAddress remote, InetSocketAddress local) throws IOException {
      Socket socket = createSocket();
      try {
        if (local != null) {
          socket.bind(local);
        }
        socket.connect(remote);
        return socket;
      } catch (IOException | RuntimeException e) {
        socket.close();
        throw e;
      }
    }
  }
}
