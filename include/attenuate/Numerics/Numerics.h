//===- Numerics.h - all of attenuate::numerics ------------------*- C++ -*-===//
//
// Dense fp64 linear algebra for the compression passes, over LAPACKE and
// OpenBLAS, free of LLVM/MLIR so it is unit-testable on its own. See each
// header for its contract; Matrix.h states the error convention.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_NUMERICS_NUMERICS_H
#define ATTENUATE_NUMERICS_NUMERICS_H

#include "attenuate/Numerics/Decompositions.h"
#include "attenuate/Numerics/Gram.h"
#include "attenuate/Numerics/KMeans.h"
#include "attenuate/Numerics/LowRank.h"
#include "attenuate/Numerics/MatchingPursuit.h"
#include "attenuate/Numerics/Matrix.h"
#include "attenuate/Numerics/Rank.h"
#include "attenuate/Numerics/SpdSqrt.h"

#endif // ATTENUATE_NUMERICS_NUMERICS_H
