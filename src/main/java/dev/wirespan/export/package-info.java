@ParametersAreNonnullByDefault
package dev.wirespan.export;

import javax.annotation.ParametersAreNonnullByDefault;
