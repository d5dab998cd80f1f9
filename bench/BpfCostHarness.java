import dev.wirespan.capture.CaptureSettings;
import dev.wirespan.capture.KernelCapture;
import dev.wirespan.capture.ProgramVariant;
import dev.wirespan.capture.RingBufferReader;

/**
 * Loads the kernel capture alone (no decoding, no export) and drains its ring buffer until stdin
 * closes, so that bench/bpf-cost.sh measures the BPF programs' run time without the rest of the
 * agent competing for the CPUs. Prints "ready pid <pid>" once every program is attached and, at the end, the
 * events read. Run with the agent jar on the class path (Java's single-file source launcher). The
 * system property {@code programs} (auto, kfunc, portable; default auto) picks the build loaded.
 */
public final class BpfCostHarness {
  private static final int POLL_TIMEOUT_MILLIS = 50;

  private BpfCostHarness() {}

  public static void main(String[] args) throws Exception {
    CaptureSettings settings =
        CaptureSettings.builder()
            .setSelfTgid((int) ProcessHandle.current().pid())
            .setProgramVariant(ProgramVariant.parse(System.getProperty("programs", "auto")))
            .build();
    try (KernelCapture capture = KernelCapture.open(settings)) {
      RingBufferReader ring = capture.ringBuffer();
      long[] events = new long[1];
      Thread drainer =
          new Thread(
              () -> {
                while (!capture.isClosed()) {
                  events[0] += ring.poll(event -> {}, POLL_TIMEOUT_MILLIS);
                }
              },
              "drain");
      drainer.setDaemon(true);
      drainer.start();
      System.out.println(
          "ready pid "
              + ProcessHandle.current().pid()
              + ", "
              + capture.attachedPrograms().size()
              + " programs, "
              + capture.programVariant().label()
              + " build");
      System.out.flush();
      while (System.in.read() >= 0) {
        // wait for stdin to close
      }
      long ringbufFull = capture.lossCounters().ringbufFull();
      capture.close();
      drainer.join();
      System.out.println("events " + events[0] + " ringbuf_full " + ringbufFull);
    }
  }
}
