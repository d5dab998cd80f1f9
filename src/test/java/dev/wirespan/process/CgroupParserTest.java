package dev.wirespan.process;

import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.process.ContainerCgroup.ContainerRuntime;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class CgroupParserTest {
  private static final String ID = "4f1c0a3b2e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b";
  private static final String UID = "0b4c2d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e";
  private static final String UID_ = UID.replace('-', '_');

  static Stream<Arguments> lines() {
    return Stream.of(
        // containerd, systemd driver, cgroup v2
        Arguments.of(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
                + UID_ + ".slice/cri-containerd-" + ID + ".scope",
            ID, ContainerRuntime.CONTAINERD, UID),
        // containerd, systemd driver, guaranteed QoS (no QoS slice), cgroup v1 line
        Arguments.of(
            "11:memory:/kubepods.slice/kubepods-pod" + UID_ + ".slice/cri-containerd-" + ID + ".scope",
            ID, ContainerRuntime.CONTAINERD, UID),
        // containerd, cgroupfs driver, cgroup v2
        Arguments.of("0::/kubepods/burstable/pod" + UID + "/" + ID, ID, ContainerRuntime.UNKNOWN, UID),
        // containerd, cgroupfs driver, cgroup v1 (k3s, kind)
        Arguments.of(
            "4:cpu,cpuacct:/kubepods/besteffort/pod" + UID + "/" + ID, ID, ContainerRuntime.UNKNOWN, UID),
        // containerd's systemd naming inside the containerd service (GKE COS style)
        Arguments.of(
            "0::/system.slice/containerd.service/kubepods-burstable-pod" + UID_
                + ".slice:cri-containerd:" + ID,
            ID, ContainerRuntime.CONTAINERD, UID),
        // CRI-O, systemd driver
        Arguments.of(
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
                + UID_ + ".slice/crio-" + ID + ".scope",
            ID, ContainerRuntime.CRIO, UID),
        // CRI-O, cgroupfs driver
        Arguments.of("0::/kubepods/burstable/pod" + UID + "/crio-" + ID, ID, ContainerRuntime.CRIO, UID),
        // CRI-O's conmon monitor is not the container
        Arguments.of(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
                + UID_ + ".slice/crio-conmon-" + ID + ".scope",
            null, ContainerRuntime.NONE, UID),
        // Docker (cri-dockerd), systemd driver
        Arguments.of(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
                + UID_ + ".slice/docker-" + ID + ".scope",
            ID, ContainerRuntime.DOCKER, UID),
        // plain Docker, systemd driver
        Arguments.of("0::/system.slice/docker-" + ID + ".scope", ID, ContainerRuntime.DOCKER, null),
        // plain Docker, cgroupfs driver, cgroup v1
        Arguments.of("12:pids:/docker/" + ID, ID, ContainerRuntime.DOCKER, null),
        // a process in a sub-cgroup of its container (systemd inside the container)
        Arguments.of(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
                + UID_ + ".slice/cri-containerd-" + ID + ".scope/init.scope",
            ID, ContainerRuntime.CONTAINERD, UID),
        // the path as seen from inside a cgroup namespace
        Arguments.of(
            "0::/../../kubepods-burstable-pod" + UID_ + ".slice/cri-containerd-" + ID + ".scope",
            ID, ContainerRuntime.CONTAINERD, UID),
        // the pod's sandbox parent only
        Arguments.of("0::/kubepods/besteffort/pod" + UID, null, ContainerRuntime.NONE, UID),
        // host processes
        Arguments.of("0::/system.slice/ssh.service", null, ContainerRuntime.NONE, null),
        Arguments.of("0::/user.slice/user-0.slice/session-3.scope", null, ContainerRuntime.NONE, null),
        Arguments.of("0::/", null, ContainerRuntime.NONE, null),
        // an id of the wrong length is no container id
        Arguments.of("0::/docker/" + ID.substring(1), null, ContainerRuntime.NONE, null));
  }

  @ParameterizedTest
  @MethodSource("lines")
  void parsesRealWorldLines(String line, String id, ContainerRuntime runtime, String podUid) {
    ContainerCgroup parsed = CgroupParser.parseLine(line);

    assertThat(parsed).isNotNull();
    assertThat(parsed.containerId()).isEqualTo(id);
    assertThat(parsed.runtime()).isEqualTo(runtime);
    assertThat(parsed.podUid()).isEqualTo(podUid);
  }

  @Test
  void prefersTheV2LineOfAHybridHost() {
    String other = "aa" + ID.substring(2);
    String file =
        "12:pids:/kubepods/burstable/pod" + UID + "/" + other + "\n"
            + "11:memory:/kubepods/burstable/pod" + UID + "/" + other + "\n"
            + "1:name=systemd:/kubepods/burstable/pod" + UID + "/" + other + "\n"
            + "0::/kubepods/burstable/pod" + UID + "/" + ID + "\n";

    assertThat(CgroupParser.parseFile(file).containerId()).isEqualTo(ID);
  }

  @Test
  void readsV1LinesWhenTheV2LineNamesNoContainer() {
    String file = "12:pids:/docker/" + ID + "\n0::/\n";

    ContainerCgroup parsed = CgroupParser.parseFile(file);

    assertThat(parsed.containerId()).isEqualTo(ID);
    assertThat(parsed.runtime()).isEqualTo(ContainerRuntime.DOCKER);
  }

  @Test
  void hostProcessAndGarbage() {
    assertThat(CgroupParser.parseFile("0::/init.scope\n")).isEqualTo(ContainerCgroup.HOST);
    assertThat(CgroupParser.parseFile("")).isEqualTo(ContainerCgroup.HOST);
    assertThat(CgroupParser.parseFile("not a cgroup file\n\n:::\n")).isEqualTo(ContainerCgroup.HOST);
    assertThat(CgroupParser.parseLine("no colons")).isNull();
  }

  @Test
  void statusContainerIds() {
    assertThat(CgroupParser.containerIdOfStatus("containerd://" + ID)).isEqualTo(ID);
    assertThat(CgroupParser.containerIdOfStatus("cri-o://" + ID)).isEqualTo(ID);
    assertThat(CgroupParser.containerIdOfStatus("docker://" + ID)).isEqualTo(ID);
    assertThat(CgroupParser.containerIdOfStatus("")).isNull();
    assertThat(CgroupParser.containerIdOfStatus(null)).isNull();
  }
}
