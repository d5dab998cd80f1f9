package dev.wirespan.span;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SpanAttributesTest {
  private static final AttributeKey<String> A = AttributeKey.stringKey("a");
  private static final AttributeKey<Long> B = AttributeKey.longKey("b");
  private static final AttributeKey<Boolean> C = AttributeKey.booleanKey("c");

  @Test
  void keepsPutOrderAndTheLastValueOfAKeyPutTwice() {
    Attributes peers = Attributes.of(AttributeKey.stringKey("z"), "peer", A, "from-peers");
    SpanAttributes attributes =
        SpanAttributes.builder().putAll(peers).put(B, 7L).put(A, "mine").put(C, true).build();

    List<String> order = new ArrayList<>();
    attributes.forEach((key, value) -> order.add(key.getKey() + "=" + value));
    // The SDK's Attributes.of sorted the peer part (a before z); put order is kept from there.
    assertThat(order).containsExactly("a=mine", "z=peer", "b=7", "c=true");
    assertThat(attributes.size()).isEqualTo(4);
    assertThat(attributes.get(A)).isEqualTo("mine");
    assertThat(attributes.get(B)).isEqualTo(7L);
    assertThat(attributes.get(AttributeKey.stringKey("missing"))).isNull();
  }

  @Test
  void aKeyEqualToAnotherInstanceIsTheSameKey() {
    SpanAttributes attributes =
        SpanAttributes.builder().put(A, "one").put(AttributeKey.stringKey("a"), "two").build();
    assertThat(attributes.size()).isEqualTo(1);
    assertThat(attributes.get(AttributeKey.stringKey("a"))).isEqualTo("two");
    // Same name, another type: the last one replaces it, as in the SDK (OTLP forbids a name twice).
    SpanAttributes typed =
        SpanAttributes.builder().put(A, "one").put(AttributeKey.longKey("a"), 1L).build();
    assertThat(typed.size()).isEqualTo(1);
    assertThat(typed.get(AttributeKey.longKey("a"))).isEqualTo(1L);
    assertThat(typed.get(A)).isNull();
    assertThat(typed.asMap())
        .isEqualTo(Attributes.builder().put(A, "one").put(AttributeKey.longKey("a"), 1L).build().asMap());
    assertThat((Object) typed.get(null)).isNull();
  }

  @Test
  void ignoresWhatTheSdkBuilderIgnores() {
    SpanAttributes attributes =
        SpanAttributes.builder()
            .put(null, "x")
            .put(AttributeKey.stringKey(""), "x")
            .put(A, null)
            .build();
    assertThat(attributes.isEmpty()).isTrue();
    assertThat(attributes.asMap()).isEmpty();
    assertThat(attributes.asMap()).isEqualTo(Attributes.empty().asMap());
  }

  @Test
  void holdsTheSdkAttributesPairsAndGrowsPastItsInitialSize() {
    SpanAttributes.Builder builder = SpanAttributes.builder();
    var sdk = Attributes.builder();
    for (int i = 40; i >= 0; i--) {
      builder.put(AttributeKey.longKey("k" + i), (long) i);
      sdk.put(AttributeKey.longKey("k" + i), (long) i);
    }
    SpanAttributes attributes = builder.build();
    assertThat(attributes.size()).isEqualTo(41);
    assertThat(attributes.asMap()).isEqualTo(sdk.build().asMap());
    assertThat(attributes.toBuilder().build()).isEqualTo(sdk.build());
    SpanAttributes.Builder reversed = SpanAttributes.builder();
    for (int i = 0; i <= 40; i++) {
      reversed.put(AttributeKey.longKey("k" + i), (long) i);
    }
    assertThat(attributes).isEqualTo(reversed.build()).hasSameHashCodeAs(reversed.build());
    assertThat(attributes).isNotEqualTo(SpanAttributes.builder().put(A, "x").build());
    // Only another SpanAttributes can be equal: equals must be symmetric, and the SDK's is not.
    assertThat(attributes).isNotEqualTo(sdk.build());
  }
}
