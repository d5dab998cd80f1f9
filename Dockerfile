# syntax=docker/dockerfile:1
#
# Wirespan agent image. Build and push:
#   docker build -t REGISTRY/wirespan-agent:TAG .
#   docker push REGISTRY/wirespan-agent:TAG
# The runtime base alone (what `mvn -Pimage jib:build` builds on, see docs/deployment.md):
#   docker build --target runtime-base -t REGISTRY/wirespan-runtime-base:TAG .
#
# Build and runtime share Debian 12, the platform the project is built and tested on: the BPF
# object is compiled against the same libbpf 1.1 headers whose libbpf.so.1 the agent loads.
# The BPF build targets x86-64 (bpf/Makefile), so the image is linux/amd64.

ARG DEBIAN_IMAGE=debian:12-slim

# ---- build: Maven + clang, as an unprivileged user ----------------------------------------
FROM ${DEBIAN_IMAGE} AS build
# man1 must exist for the JDK's update-alternatives in the slim image.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      openjdk-17-jdk-headless maven clang llvm make libbpf-dev linux-libc-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 builder
USER builder
WORKDIR /home/builder/src
COPY --chown=builder pom.xml ./
COPY --chown=builder bpf bpf
COPY --chown=builder src/main src/main
# Tests need root and BPF on the build machine; CI runs them outside the image build.
RUN --mount=type=cache,target=/home/builder/.m2,uid=10001 \
    mvn -B -q -DskipTests package \
 && test -s target/wirespan-agent.jar

# ---- runtime-base: JRE + libbpf + libelf, no application ---------------------------------
FROM ${DEBIAN_IMAGE} AS runtime-base
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless libbpf1 libelf1 \
 && rm -rf /var/lib/apt/lists/*
# The agent's memory defaults, here so that the Jib image (built on this stage) has them too; the
# Helm chart passes the same flags (values.yaml jvm.*), its heap as a share of the memory limit.
# docs/deployment.md ("Memory") gives each one's reason: a fixed heap ceiling (the JVM would
# otherwise start with 1/64 of the host's memory), Serial GC, the JIT's freed memory returned to
# the system every 5 s (JDK 17.0.9+), and 2 glibc malloc arenas instead of 8 per core.
ENV JAVA_TOOL_OPTIONS="-Xmx128m -XX:+UseSerialGC -XX:TrimNativeHeapInterval=5000 -XX:+ExitOnOutOfMemoryError" \
    MALLOC_ARENA_MAX=2

# ---- runtime ----------------------------------------------------------------------------
FROM runtime-base AS runtime
COPY --from=build /home/builder/src/target/wirespan-agent.jar /opt/wirespan/wirespan-agent.jar
# Root, deliberately: the agent needs CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and
# CAP_DAC_READ_SEARCH, and container runtimes (and so Kubernetes) give added capabilities to
# uid 0 only: a non-root user would need ambient capabilities, which Kubernetes cannot set, or
# file capabilities on the java binary, which put the launcher in secure-execution mode where
# it cannot find its own libraries. The Helm chart drops every other capability, so this root
# holds only those four (docs/deployment.md shows the equivalent `docker run`).
USER 0:0
WORKDIR /tmp
# Admin endpoint: /healthz, /readyz, /metrics (bind it with WIRESPAN_ADMIN_ADDRESS=0.0.0.0:9464).
EXPOSE 9464
ENTRYPOINT ["java", "-jar", "/opt/wirespan/wirespan-agent.jar"]
