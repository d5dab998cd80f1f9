package dev.wirespan.capture;

/**
 * The kernel capture could not start: the message names the missing capability, kernel feature or
 * package, so that it can be shown to an operator as is.
 */
public final class CaptureException extends RuntimeException {
  public CaptureException(String message) {
    super(message);
  }

  public CaptureException(String message, Throwable cause) {
    super(message, cause);
  }
}
