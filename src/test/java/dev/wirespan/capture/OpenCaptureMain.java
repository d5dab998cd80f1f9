package dev.wirespan.capture;

/**
 * Opens the capture in a separate process (started by tests with fewer privileges) and reports
 * the outcome: exit 0 if it opened, {@link #CAPTURE_FAILED} with the message on stdout if it
 * threw {@link CaptureException}.
 */
public final class OpenCaptureMain {
  static final int CAPTURE_FAILED = 3;

  private OpenCaptureMain() {}

  public static void main(String[] args) {
    try (KernelCapture capture = KernelCapture.open(CaptureSettings.defaults())) {
      System.out.println("opened " + capture.attachedPrograms().size());
    } catch (CaptureException e) {
      System.out.println(e.getMessage());
      System.exit(CAPTURE_FAILED);
    }
  }
}
