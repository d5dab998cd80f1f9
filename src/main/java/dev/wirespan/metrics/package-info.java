@ParametersAreNonnullByDefault
package dev.wirespan.metrics;

import javax.annotation.ParametersAreNonnullByDefault;
