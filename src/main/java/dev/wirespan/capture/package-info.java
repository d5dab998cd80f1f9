@ParametersAreNonnullByDefault
package dev.wirespan.capture;

import javax.annotation.ParametersAreNonnullByDefault;
