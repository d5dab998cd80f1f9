package dev.wirespan.capture;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

/**
 * The few libc calls the capture stage needs (LP64 Linux: {@code size_t}, {@code off_t} and
 * {@code nfds_t} are {@code long}). Failures return -1 (MAP_FAILED for mmap) with errno set, read
 * through {@link Native#getLastError()}.
 */
interface LibC extends Library {
  LibC INSTANCE = Native.load("c", LibC.class);

  int PROT_READ = 0x1;
  int PROT_WRITE = 0x2;
  int MAP_SHARED = 0x1;
  short POLLIN = 0x1;
  int EINTR = 4;
  int EAGAIN = 11;
  int ENOENT = 2;
  int EPERM = 1;
  int EACCES = 13;
  int EINVAL = 22;
  int E2BIG = 7;
  int ENOMEM = 12;
  int EBUSY = 16;
  int ENODEV = 19;
  int EOPNOTSUPP = 95;

  Pointer mmap(Pointer addr, long length, int prot, int flags, int fd, long offset);

  int munmap(Pointer addr, long length);

  /** {@code struct pollfd { int fd; short events; short revents; }} array of nfds entries. */
  int poll(Pointer fds, long nfds, int timeoutMillis);

  int mount(String source, String target, String fileSystemType, long flags, Pointer data);

  /** Formats a {@code va_list} received by a callback: consumes it. */
  int vsnprintf(byte[] buf, long size, Pointer format, Pointer args);

  int getpagesize();

  static boolean isMapFailed(Pointer p) {
    return p == null || Pointer.nativeValue(p) == -1L;
  }
}
