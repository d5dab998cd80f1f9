@ParametersAreNonnullByDefault
package dev.wirespan.agent;

import javax.annotation.ParametersAreNonnullByDefault;
