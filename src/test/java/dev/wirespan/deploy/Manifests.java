package dev.wirespan.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Collections;

/**
 * Parses Kubernetes YAML into fabric8's typed model and checks that every field was understood.
 * fabric8 keeps fields it does not know (a misspelt key, a value of the wrong type) in each
 * object's additionalProperties instead of failing, so an object is valid only when those are
 * empty everywhere in its tree.
 */
final class Manifests {
  private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

  private Manifests() {}

  /** Every document of a (multi-document) YAML text as a typed object, each fully understood. */
  static List<HasMetadata> parse(String yaml) {
    Object parsed = SERIALIZATION.unmarshal(yaml);
    List<HasMetadata> objects = new ArrayList<>();
    if (parsed instanceof Collection<?> many) {
      for (Object o : many) {
        if (o != null) {
          objects.add((HasMetadata) o);
        }
      }
    } else if (parsed != null) {
      objects.add((HasMetadata) parsed);
    }
    for (HasMetadata o : objects) {
      assertFullyUnderstood(o);
    }
    return objects;
  }

  /** The spec of a custom resource, which fabric8 keeps untyped. */
  @SuppressWarnings("unchecked")
  static Map<String, Object> spec(HasMetadata customResource) {
    assertThat(customResource).isInstanceOf(GenericKubernetesResource.class);
    return (Map<String, Object>) ((GenericKubernetesResource) customResource).getAdditionalProperties().get("spec");
  }

  /**
   * Fails when any model object below {@code root} holds fields fabric8 did not map. Custom
   * resources (GenericKubernetesResource) are untyped by nature and are skipped below their
   * metadata.
   */
  static void assertFullyUnderstood(HasMetadata root) {
    assertThat(root.getApiVersion()).as("apiVersion of %s", root.getKind()).isNotBlank();
    assertThat(root.getMetadata()).as("metadata of %s", root.getKind()).isNotNull();
    assertThat(root.getMetadata().getName()).as("name of a %s", root.getKind()).isNotBlank();
    String where = root.getKind() + "/" + root.getMetadata().getName();
    if (root instanceof GenericKubernetesResource) {
      walk(root.getMetadata(), where + ".metadata", Collections.newSetFromMap(new IdentityHashMap<>()));
      return;
    }
    walk(root, where, Collections.newSetFromMap(new IdentityHashMap<>()));
  }

  private static void walk(Object node, String where, Set<Object> seen) {
    if (node == null || !seen.add(node)) {
      return;
    }
    if (node instanceof Map<?, ?> map) {
      for (Map.Entry<?, ?> e : map.entrySet()) {
        walk(e.getValue(), where + "[" + e.getKey() + "]", seen);
      }
      return;
    }
    if (node instanceof Collection<?> items) {
      int i = 0;
      for (Object item : items) {
        walk(item, where + "[" + i++ + "]", seen);
      }
      return;
    }
    if (!node.getClass().getName().startsWith("io.fabric8.kubernetes.api.model")) {
      return;
    }
    for (Method getter : node.getClass().getMethods()) {
      if (getter.getParameterCount() != 0
          || Modifier.isStatic(getter.getModifiers())
          || getter.getDeclaringClass() == Object.class
          || !getter.getName().startsWith("get")) {
        continue;
      }
      Object value = invoke(getter, node);
      if (getter.getName().equals("getAdditionalProperties")) {
        assertThat((Map<?, ?>) value)
            .as("fields not understood in %s (misspelt or wrongly typed)", where)
            .isNullOrEmpty();
      } else {
        walk(value, where + "." + getter.getName().substring(3), seen);
      }
    }
  }

  private static Object invoke(Method getter, Object target) {
    try {
      return getter.invoke(target);
    } catch (IllegalAccessException | InvocationTargetException e) {
      throw new IllegalStateException("cannot read " + getter, e);
    }
  }
}
