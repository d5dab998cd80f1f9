package dev.wirespan.capture;

import com.sun.jna.Pointer;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;

/**
 * Routes libbpf's messages to {@link System.Logger} ("dev.wirespan.capture.libbpf"): warnings at
 * WARNING, the rest at DEBUG. Also keeps the last warnings so that a failed load or attach can
 * say why (the verifier's verdict arrives as warnings).
 */
final class LibBpfLog {
  private static final Logger LOG = System.getLogger("dev.wirespan.capture.libbpf");
  /** Longest formatted message; the verifier log arrives line by line, far below this. */
  private static final int MESSAGE_BUFFER_BYTES = 8192;
  /** Warnings kept for error messages: enough for the verifier's last words. */
  private static final int RECENT_WARNINGS = 24;

  private static final ArrayDeque<String> recentWarnings = new ArrayDeque<>();
  /** Strongly referenced for the life of the process: libbpf keeps the native pointer. */
  private static final LibBpf.PrintCallback CALLBACK = LibBpfLog::print;

  private static boolean installed;

  private LibBpfLog() {}

  /** Installs the callback once per process. */
  static synchronized void install() {
    if (!installed) {
      LibBpf.INSTANCE.libbpf_set_print(CALLBACK);
      installed = true;
    }
  }

  /** Forgets earlier warnings: call before an operation whose failure should be explained. */
  static synchronized void clearRecentWarnings() {
    recentWarnings.clear();
  }

  /** The warnings since the last {@link #clearRecentWarnings()}, oldest first. */
  static synchronized List<String> recentWarnings() {
    return List.copyOf(recentWarnings);
  }

  private static int print(int level, Pointer format, Pointer args) {
    try {
      byte[] buf = new byte[MESSAGE_BUFFER_BYTES];
      int n = LibC.INSTANCE.vsnprintf(buf, buf.length, format, args);
      if (n < 0) {
        return 0;
      }
      String message =
          new String(buf, 0, Math.min(n, buf.length - 1), StandardCharsets.UTF_8).stripTrailing();
      if (level == LibBpf.LIBBPF_WARN) {
        LOG.log(Level.WARNING, message);
        synchronized (LibBpfLog.class) {
          if (recentWarnings.size() == RECENT_WARNINGS) {
            recentWarnings.removeFirst();
          }
          recentWarnings.addLast(message);
        }
      } else if (LOG.isLoggable(Level.DEBUG)) {
        LOG.log(Level.DEBUG, message);
      }
    } catch (RuntimeException e) {
      // An exception must not unwind into libbpf's C frames.
      LOG.log(Level.DEBUG, "libbpf message could not be formatted", e);
    }
    return 0;
  }
}
