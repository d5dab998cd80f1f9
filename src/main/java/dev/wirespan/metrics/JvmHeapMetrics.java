package dev.wirespan.metrics;

import com.sun.management.GarbageCollectorMXBean;
import com.sun.management.GcInfo;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The agent's own heap as the garbage collector last left it: {@value #METRIC_HEAP_AFTER_GC}, the
 * heap bytes in use right after the most recent collection (of any collector), summed over the
 * heap pools. Unlike the used heap at scrape time, which swings with every allocation, this follows
 * what the agent keeps: a value that climbs from collection to collection while the load is steady
 * means memory is held (a backlog or a leak). Read only when scraped; nothing here triggers a
 * collection.
 */
public final class JvmHeapMetrics {
  public static final String METRIC_HEAP_AFTER_GC = "wirespan_jvm_heap_after_gc_bytes";
  /** Reported before the first collection has happened. */
  static final long NO_COLLECTION_YET = 0;

  private final List<GarbageCollectorMXBean> collectors;
  private final Set<String> heapPools;

  private JvmHeapMetrics() {
    this.collectors = ManagementFactory.getPlatformMXBeans(GarbageCollectorMXBean.class);
    this.heapPools =
        ManagementFactory.getMemoryPoolMXBeans().stream()
            .filter(p -> p.getType() == MemoryType.HEAP)
            .map(MemoryPoolMXBean::getName)
            .collect(Collectors.toUnmodifiableSet());
  }

  /** Registers the heap gauge on {@code metrics}. */
  public static void register(AgentMetrics metrics) {
    Objects.requireNonNull(metrics, "metrics");
    JvmHeapMetrics heap = new JvmHeapMetrics();
    metrics.gauge(
        METRIC_HEAP_AFTER_GC,
        "Heap bytes in use right after the most recent garbage collection.",
        heap::usedAfterLastCollection);
  }

  /** Heap bytes in use right after the most recent collection, or 0 before the first one. */
  long usedAfterLastCollection() {
    GcInfo latest = null;
    for (GarbageCollectorMXBean collector : collectors) {
      GcInfo info = collector.getLastGcInfo();
      if (info != null && (latest == null || info.getEndTime() > latest.getEndTime())) {
        latest = info;
      }
    }
    if (latest == null) {
      return NO_COLLECTION_YET;
    }
    long used = 0;
    for (Map.Entry<String, MemoryUsage> pool : latest.getMemoryUsageAfterGc().entrySet()) {
      if (heapPools.contains(pool.getKey())) {
        used += pool.getValue().getUsed();
      }
    }
    return used;
  }
}
