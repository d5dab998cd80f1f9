package dev.wirespan.k8s;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import io.fabric8.kubernetes.client.informers.cache.ItemStore;
import java.util.Collection;
import java.util.Collections;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Stream;
import javax.annotation.Nullable;

/**
 * An informer item store that keeps, for each object, only a small record of what the agent needs
 * (a trimming transform): the full object the informer deserialized becomes garbage as soon as
 * the record is made. What the informer reads back (to tell updates from adds and to find
 * deletions after a re-list) is a skeleton object holding only the key and the resourceVersion,
 * which is all it uses.
 *
 * <p>The informer calls {@link #put} and {@link #remove} from one thread at a time (under its
 * cache lock); {@link ChangeListener}s run there too and keep the lookup indexes. Readers on the
 * span path read the concurrent map without locks.
 */
final class CompactStore<T extends HasMetadata, R extends CompactStore.Compacted>
    implements ItemStore<T> {
  /** A record kept in place of a full object. */
  interface Compacted {
    String resourceVersion();
  }

  /** Told of every change, in order, on the informer's thread. */
  @FunctionalInterface
  interface ChangeListener<R> {
    void changed(String key, @Nullable R before, @Nullable R after);
  }

  private final ConcurrentHashMap<String, R> items = new ConcurrentHashMap<>();
  private final Supplier<T> skeleton;
  private final Function<T, R> compact;
  private final ChangeListener<R> listener;
  private volatile long changes;

  CompactStore(Supplier<T> skeleton, Function<T, R> compact, ChangeListener<R> listener) {
    this.skeleton = Objects.requireNonNull(skeleton, "skeleton");
    this.compact = Objects.requireNonNull(compact, "compact");
    this.listener = Objects.requireNonNull(listener, "listener");
  }

  /** The record under an informer key ({@code namespace/name}, or name when cluster-scoped). */
  @Nullable
  R record(String key) {
    return items.get(key);
  }

  Collection<R> records() {
    return Collections.unmodifiableCollection(items.values());
  }

  /** Count of changes so far: lets caches built on these records tell when they are stale. */
  long changes() {
    return changes;
  }

  @Override
  public String getKey(T obj) {
    return Cache.metaNamespaceKeyFunc(obj);
  }

  @Override
  public T put(String key, T obj) {
    R after = compact.apply(obj);
    R before = items.put(key, after);
    changes++; // single writer thread (the informer's cache lock)
    listener.changed(key, before, after);
    return skeleton(key, before);
  }

  @Override
  public T remove(String key) {
    R before = items.remove(key);
    if (before != null) {
      changes++;
      listener.changed(key, before, null);
    }
    return skeleton(key, before);
  }

  @Override
  public Stream<String> keySet() {
    return items.keySet().stream();
  }

  @Override
  public Stream<T> values() {
    return items.entrySet().stream().map(e -> skeleton(e.getKey(), e.getValue()));
  }

  @Override
  public int size() {
    return items.size();
  }

  @Override
  public T get(String key) {
    return skeleton(key, items.get(key));
  }

  @Override
  public boolean isFullState() {
    return false;
  }

  @Nullable
  private T skeleton(String key, @Nullable R record) {
    if (record == null) {
      return null;
    }
    ObjectMeta meta = new ObjectMeta();
    int slash = key.indexOf('/');
    if (slash < 0) {
      meta.setName(key);
    } else {
      meta.setNamespace(key.substring(0, slash));
      meta.setName(key.substring(slash + 1));
    }
    meta.setResourceVersion(record.resourceVersion());
    T object = skeleton.get();
    object.setMetadata(meta);
    return object;
  }
}
