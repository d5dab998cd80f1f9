package dev.wirespan.capture;

/**
 * Every check of {@link KernelCaptureTest} with the portable build of the programs forced (the
 * one kernels 5.12-6.1 run, and the agent's fallback), on this kernel.
 */
class PortableKernelCaptureTest extends KernelCaptureTest {
  @Override
  ProgramVariant variant() {
    return ProgramVariant.PORTABLE;
  }

  @Override
  ProgramVariant expectedVariant() {
    return ProgramVariant.PORTABLE;
  }
}
