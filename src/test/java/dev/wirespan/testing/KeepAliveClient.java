package dev.wirespan.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * A minimal HTTP/1.1 client on one keep-alive connection: GET requests written by hand, so the
 * bytes on the wire (what the agent sees) are exactly these.
 */
public final class KeepAliveClient implements AutoCloseable {
  private static final int HEAD_BUFFER_BYTES = 4096;
  private static final String CONTENT_LENGTH = "content-length:";

  private final Socket socket;

  public KeepAliveClient(String host, int port) throws IOException {
    this.socket = new Socket(host, port);
  }

  /** Sends {@code GET path} and reads the whole response; returns its status code. */
  public int get(String path) throws IOException {
    OutputStream out = socket.getOutputStream();
    out.write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    out.flush();
    InputStream in = socket.getInputStream();
    byte[] head = new byte[HEAD_BUFFER_BYTES];
    int n = 0;
    int end;
    while ((end = headEnd(head, n)) < 0) {
      if (n == head.length) {
        throw new IOException("response head larger than " + head.length + " bytes");
      }
      int r = in.read(head, n, head.length - n);
      if (r < 0) {
        throw new IOException("connection closed");
      }
      n += r;
    }
    String text = new String(head, 0, end, StandardCharsets.US_ASCII);
    int length = 0;
    for (String line : text.split("\r\n")) {
      if (line.toLowerCase(Locale.ROOT).startsWith(CONTENT_LENGTH)) {
        length = Integer.parseInt(line.substring(CONTENT_LENGTH.length()).trim());
      }
    }
    in.readNBytes(length - (n - end));
    return Integer.parseInt(text.substring(text.indexOf(' ') + 1, text.indexOf(' ') + 4));
  }

  /** Index just past the blank line ending the head, or -1. */
  private static int headEnd(byte[] b, int n) {
    for (int i = 3; i < n; i++) {
      if (b[i - 3] == '\r' && b[i - 2] == '\n' && b[i - 1] == '\r' && b[i] == '\n') {
        return i + 1;
      }
    }
    return -1;
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
