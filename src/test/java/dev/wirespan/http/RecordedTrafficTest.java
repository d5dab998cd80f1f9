package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.wirespan.http.Conversation.Party;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Real HTTP/1.1 traffic between the JDK's HTTP client and server on 127.0.0.1, recorded read by
 * read by a relay in the middle and replayed as capture events: keep-alive, a chunked response
 * and a request body as real implementations frame them.
 */
class RecordedTrafficTest {
  private static final int RELAY_BUFFER_BYTES = 1024;
  private static final int REQUESTS = 3;
  private static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

  private record Chunk(Party party, byte[] bytes) {}

  @Test
  void jdkClientAndServerTrafficDecodes() throws Exception {
    HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", exchange -> {
      byte[] in = exchange.getRequestBody().readAllBytes();
      byte[] body = ("echo " + in.length + " " + exchange.getRequestURI()).getBytes(StandardCharsets.UTF_8);
      boolean chunked = exchange.getRequestURI().getPath().equals("/chunked");
      exchange.sendResponseHeaders(chunked ? 202 : 200, chunked ? 0 : 2L * body.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
        out.flush();
        out.write(body);
      }
    });
    ExecutorService pool = Executors.newCachedThreadPool();
    server.setExecutor(pool);
    server.start();
    List<Chunk> recorded = new ArrayList<>();
    try (ServerSocket relay = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      pool.submit(() -> {
        try (Socket client = relay.accept();
            Socket upstream = new Socket(InetAddress.getLoopbackAddress(), server.getAddress().getPort())) {
          var up = pool.submit(() -> pump(client.getInputStream(), upstream.getOutputStream(), Party.REQUESTS, recorded));
          pump(upstream.getInputStream(), client.getOutputStream(), Party.RESPONSES, recorded);
          up.get();
        }
        return null;
      });
      HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      String base = "http://127.0.0.1:" + relay.getLocalPort();
      send(client, HttpRequest.newBuilder(URI.create(base + "/a?q=1")).GET());
      send(client, HttpRequest.newBuilder(URI.create(base + "/post"))
          .POST(HttpRequest.BodyPublishers.ofString("twelve bytes")));
      send(client, HttpRequest.newBuilder(URI.create(base + "/chunked")).GET());
    } finally {
      server.stop(0);
      pool.shutdownNow();
      pool.awaitTermination(CALL_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }

    List<Chunk> chunks;
    synchronized (recorded) {
      chunks = new ArrayList<>(recorded);
    }
    for (HttpExchange.Side side : HttpExchange.Side.values()) {
      TrackerRun run = new TrackerRun();
      Wire wire = run.wire(side, 3);
      long[] offsets = new long[2];
      for (Chunk c : chunks) {
        wire.data(c.party(), offsets[c.party().ordinal()], c.bytes(), 0, c.bytes().length);
        offsets[c.party().ordinal()] += c.bytes().length;
      }
      assertThat(run.listener.ended).as(side.toString()).hasSize(REQUESTS);
      assertThat(run.listener.ended).extracting(HttpExchange::method).containsExactly("GET", "POST", "GET");
      assertThat(run.listener.ended).extracting(HttpExchange::target)
          .containsExactly("/a?q=1", "/post", "/chunked");
      assertThat(run.listener.ended).extracting(HttpExchange::statusCode).containsExactly(200, 200, 202);
      assertThat(run.listener.ended).extracting(HttpExchange::requestBodySize).containsExactly(0L, 12L, 0L);
      assertThat(run.listener.ended).extracting(HttpExchange::responseBodySize)
          .containsExactly(2L * "echo 0 /a?q=1".length(), 2L * "echo 12 /post".length(),
              2L * "echo 0 /chunked".length());
      assertThat(run.listener.ended).allMatch(x -> x.outcome() == HttpExchange.Outcome.COMPLETE);
      assertThat(run.listener.ended).allMatch(x -> "127.0.0.1".equals(hostName(x.host())));
      run.assertLosses(side.toString(), Map.of());
      run.finish(side.toString());
    }
  }

  private static String hostName(String host) {
    return host == null ? null : host.substring(0, host.indexOf(':'));
  }

  private static void send(HttpClient client, HttpRequest.Builder request) throws Exception {
    HttpResponse<String> response =
        client.send(request.timeout(CALL_TIMEOUT).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).isBetween(200, 299);
  }

  /** Relays one direction, recording every read as one syscall's worth of bytes. */
  private static Void pump(InputStream in, OutputStream out, Party party, List<Chunk> recorded)
      throws IOException {
    byte[] buf = new byte[RELAY_BUFFER_BYTES];
    int n;
    while ((n = in.read(buf)) > 0) {
      // Recorded before forwarding: the other side can only react after this.
      synchronized (recorded) {
        recorded.add(new Chunk(party, Arrays.copyOf(buf, n)));
      }
      out.write(buf, 0, n);
      out.flush();
    }
    return null;
  }
}
