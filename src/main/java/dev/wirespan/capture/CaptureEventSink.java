package dev.wirespan.capture;

/** Receives ring buffer records in order, on the single capture thread. */
@FunctionalInterface
public interface CaptureEventSink {
  /**
   * Handles one record. The view is reused and its bytes handed back to the kernel after this
   * returns: copy whatever must be kept.
   */
  void onEvent(CaptureEvent event);
}
