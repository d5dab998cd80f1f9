package dev.wirespan.span;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiConsumer;
import javax.annotation.Nullable;

/**
 * The attributes of one span, kept in the order they were put. The SDK's {@link
 * Attributes#builder()} merge-sorts every set by key name when it is built (8 % of the capture
 * thread at saturation, for a span of about fifteen attributes); neither the OTLP encoding nor a
 * backend reads the order. As in the SDK, a key name put twice keeps only the last key and value
 * (whatever their types: OTLP forbids a name twice), at the name's first place; a null key, an
 * empty key name or a null value is ignored. Immutable once built. {@link #equals} holds between
 * two instances with the same pairs in any order; compare with other implementations through
 * {@link #asMap()}.
 */
final class SpanAttributes implements Attributes {
  private static final SpanAttributes EMPTY = new SpanAttributes(new Object[0]);

  /** key, value, key, value, ... */
  private final Object[] pairs;

  private SpanAttributes(Object[] pairs) {
    this.pairs = pairs;
  }

  static Builder builder() {
    return new Builder();
  }

  @Override
  @Nullable
  @SuppressWarnings("unchecked")
  public <T> T get(@Nullable AttributeKey<T> key) {
    if (key == null) {
      return null;
    }
    int i = Builder.indexOf(pairs, pairs.length, key.getKey());
    return i < 0 || !pairs[i].equals(key) ? null : (T) pairs[i + 1];
  }

  @Override
  @SuppressWarnings("unchecked")
  public void forEach(BiConsumer<? super AttributeKey<?>, ? super Object> consumer) {
    for (int i = 0; i < pairs.length; i += 2) {
      consumer.accept((AttributeKey<?>) pairs[i], pairs[i + 1]);
    }
  }

  @Override
  public int size() {
    return pairs.length / 2;
  }

  @Override
  public boolean isEmpty() {
    return pairs.length == 0;
  }

  @Override
  public Map<AttributeKey<?>, Object> asMap() {
    Map<AttributeKey<?>, Object> map = new LinkedHashMap<>();
    forEach(map::put);
    return Collections.unmodifiableMap(map);
  }

  @Override
  public AttributesBuilder toBuilder() {
    return Attributes.builder().putAll(this);
  }

  @Override
  public boolean equals(Object o) {
    return o == this || (o instanceof SpanAttributes other && asMap().equals(other.asMap()));
  }

  @Override
  public int hashCode() {
    return asMap().hashCode();
  }

  @Override
  public String toString() {
    StringBuilder s = new StringBuilder("{");
    for (int i = 0; i < pairs.length; i += 2) {
      s.append(i == 0 ? "" : ", ")
          .append(((AttributeKey<?>) pairs[i]).getKey())
          .append('=')
          .append(pairs[i + 1]);
    }
    return s.append('}').toString();
  }

  /** Collects the attributes of one span; not thread-safe, not reusable after {@link #build}. */
  static final class Builder {
    /** Enough for every span the factory builds with a few peer attributes; grows beyond. */
    private static final int INITIAL_PAIRS = 24;

    private Object[] pairs = new Object[2 * INITIAL_PAIRS];
    private int length;

    private Builder() {}

    <T> Builder put(@Nullable AttributeKey<T> key, @Nullable T value) {
      if (key == null || key.getKey().isEmpty() || value == null) {
        return this;
      }
      int i = indexOf(pairs, length, key.getKey());
      if (i >= 0) {
        pairs[i] = key;
        pairs[i + 1] = value;
        return this;
      }
      if (length == pairs.length) {
        pairs = Arrays.copyOf(pairs, 2 * pairs.length);
      }
      pairs[length++] = key;
      pairs[length++] = value;
      return this;
    }

    Builder put(AttributeKey<Long> key, long value) {
      return put(key, Long.valueOf(value));
    }

    @SuppressWarnings("unchecked")
    Builder putAll(Attributes attributes) {
      attributes.forEach((key, value) -> put((AttributeKey<Object>) key, value));
      return this;
    }

    SpanAttributes build() {
      return length == 0 ? EMPTY : new SpanAttributes(Arrays.copyOf(pairs, length));
    }

    /** Index of the key named {@code name} in {@code pairs[0, length)}, or -1. */
    static int indexOf(Object[] pairs, int length, String name) {
      int hash = name.hashCode(); // cached by the String, as for the keys' names
      for (int i = 0; i < length; i += 2) {
        String k = ((AttributeKey<?>) pairs[i]).getKey();
        if (k == name || (k.hashCode() == hash && k.equals(name))) {
          return i;
        }
      }
      return -1;
    }
  }
}
