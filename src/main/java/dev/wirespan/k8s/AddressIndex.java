package dev.wirespan.k8s;

import java.net.InetAddress;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import javax.annotation.Nullable;

/**
 * Address to the objects that hold it. Usually one object per address; more during a hand-over
 * (a pod deleted while its successor already has the same IP) or for an address in several
 * endpoint slices. One writer (an informer thread), lock-free readers: each address maps to an
 * immutable array replaced on change.
 */
final class AddressIndex<V> {
  private static final Object[] NONE = new Object[0];

  private final ConcurrentHashMap<InetAddress, Object[]> byAddress = new ConcurrentHashMap<>();

  void add(InetAddress address, V value) {
    byAddress.compute(
        address,
        (a, current) -> {
          if (current == null) {
            return new Object[] {value};
          }
          Object[] grown = Arrays.copyOf(current, current.length + 1);
          grown[current.length] = value;
          return grown;
        });
  }

  void remove(InetAddress address, V value) {
    byAddress.computeIfPresent(
        address,
        (a, current) -> {
          int at = -1;
          for (int i = 0; i < current.length; i++) {
            if (current[i].equals(value)) {
              at = i;
              break;
            }
          }
          if (at < 0) {
            return current;
          }
          if (current.length == 1) {
            return null;
          }
          Object[] shrunk = new Object[current.length - 1];
          System.arraycopy(current, 0, shrunk, 0, at);
          System.arraycopy(current, at + 1, shrunk, at, current.length - at - 1);
          return shrunk;
        });
  }

  /** The newest object holding the address, or null. */
  @Nullable
  @SuppressWarnings("unchecked")
  V newest(InetAddress address) {
    Object[] values = byAddress.get(address);
    return values == null ? null : (V) values[values.length - 1];
  }

  /** All objects holding the address, oldest first; never null. */
  Object[] all(InetAddress address) {
    Object[] values = byAddress.get(address);
    return values == null ? NONE : values;
  }

  int size() {
    return byAddress.size();
  }
}
