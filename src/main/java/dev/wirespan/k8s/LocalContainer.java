package dev.wirespan.k8s;

import io.fabric8.kubernetes.api.model.Pod;
import javax.annotation.Nullable;

/**
 * A container of a pod on this node, found by the id its runtime gave it.
 *
 * @param pod the pod as last seen (full detail)
 * @param containerName the container's name in the pod spec
 * @param containerId the bare 64 hex digit id
 * @param image the image as written in the pod spec, or null when the spec has none
 */
public record LocalContainer(Pod pod, String containerName, String containerId, @Nullable String image) {}
