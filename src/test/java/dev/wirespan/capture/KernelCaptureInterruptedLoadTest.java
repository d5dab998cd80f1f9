package dev.wirespan.capture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.jna.Library;
import com.sun.jna.Native;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import sun.misc.Signal;

/**
 * The kernel gives up verifying a program when a signal is pending for the loading thread
 * (EAGAIN), as it is many times a second under a sampling profiler. Signals are sent here to the
 * thread that opens the capture, the way such a profiler sends them.
 */
class KernelCaptureInterruptedLoadTest {
  /** A signal the JVM lets an application handle; handled, it interrupts system calls. */
  private static final Signal SIGNAL = new Signal("WINCH");

  private static final int SIGWINCH = 28;
  private static final Logger CAPTURE_LOG = Logger.getLogger(KernelCapture.class.getName());

  /** glibc's wrappers (2.30 and later) of the two thread system calls. */
  interface Threads extends Library {
    Threads INSTANCE = Native.load("c", Threads.class);

    int gettid();

    int getpid();

    int tgkill(int tgid, int tid, int sig);
  }

  private static final AtomicInteger HANDLED = new AtomicInteger();

  @BeforeAll
  static void handleTheSignal() {
    Signal.handle(SIGNAL, s -> HANDLED.incrementAndGet());
  }

  @AfterAll
  static void restoreTheSignal() {
    Signal.handle(SIGNAL, sun.misc.SignalHandler.SIG_DFL);
  }

  @Test
  void aLoadInterruptedOnEveryAttemptFailsWithWhatHappened() throws Exception {
    Privileges.requireRoot();
    AtomicBoolean signalling = new AtomicBoolean(true);
    assertThatThrownBy(() -> openWhileSignalled(signalling))
        .isInstanceOf(CaptureException.class)
        .hasMessageContaining("signals kept interrupting the kernel's verifier")
        .hasMessageContaining(KernelCapture.LOAD_ATTEMPTS + " attempts");
    assertThat(HANDLED.get()).isPositive();
  }

  @Test
  void aLoadInterruptedOnceIsTriedAgainAndCaptures() throws Exception {
    Privileges.requireRoot();
    AtomicBoolean signalling = new AtomicBoolean(true);
    AtomicInteger retries = new AtomicInteger();
    Handler stopOnRetry =
        new Handler() {
          @Override
          public void publish(LogRecord r) {
            if (r.getMessage() != null && r.getMessage().contains("trying again")) {
              retries.incrementAndGet();
              signalling.set(false);
            }
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    CAPTURE_LOG.addHandler(stopOnRetry);
    try (KernelCapture capture = openWhileSignalled(signalling)) {
      assertThat(retries.get()).isEqualTo(1);
      assertThat(capture.attachedPrograms()).isNotEmpty();
    } finally {
      CAPTURE_LOG.removeHandler(stopOnRetry);
    }
  }

  /** Opens the capture on a thread that receives signals for as long as {@code signalling}. */
  private static KernelCapture openWhileSignalled(AtomicBoolean signalling) throws Exception {
    CompletableFuture<Integer> tid = new CompletableFuture<>();
    CompletableFuture<KernelCapture> opened = new CompletableFuture<>();
    Thread loader =
        new Thread(
            () -> {
              tid.complete(Threads.INSTANCE.gettid());
              try {
                opened.complete(
                    KernelCapture.open(CaptureSettings.builder().setSelfTgid(0).build()));
              } catch (Throwable t) {
                opened.completeExceptionally(t);
              }
            },
            "capture-loader");
    Thread sender =
        new Thread(
            () -> {
              int pid = Threads.INSTANCE.getpid();
              int target = tid.join();
              while (signalling.get() && !opened.isDone()) {
                Threads.INSTANCE.tgkill(pid, target, SIGWINCH);
              }
            },
            "signal-sender");
    sender.start();
    loader.start();
    try {
      return opened.get(2, TimeUnit.MINUTES);
    } catch (java.util.concurrent.ExecutionException e) {
      throw e.getCause() instanceof Exception ex ? ex : e;
    } finally {
      signalling.set(false);
      sender.join();
      loader.join();
    }
  }
}
