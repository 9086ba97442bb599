//===- Matrix.h - dense fp64 row-major matrix and GEMM ----------*- C++ -*-===//
//
// The one matrix type of Numerics: fp64, row-major, owning. The compression
// passes read weights (f32/bf16/f16) into it, decompose, and write the
// factors back; fp64 keeps the round-off of a d_m x d_m decomposition far
// below the quantisation of the stored weights.
//
// Error convention for all of Numerics: a function that can fail returns
// bool and fills `std::string &error` with one line starting with the
// function's name ("svd: ..."); outputs are unspecified on failure. Nothing
// aborts, asserts or throws on bad data (only std::bad_alloc can escape).
// The functions keep no state, so threads may call them concurrently; each
// call may itself use OpenBLAS's threads.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_NUMERICS_MATRIX_H
#define ATTENUATE_NUMERICS_MATRIX_H

#include <cstdint>
#include <string>
#include <vector>

namespace attenuate::numerics {

/// A dense rows x cols fp64 matrix, element (i, j) at data[i * cols + j].
/// Members are public so callers can fill `data` directly; keep
/// data.size() == rows * cols (every Numerics function checks it).
struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<double> data;

  Matrix() = default;
  /// A zero-filled rows x cols matrix. Dimensions must be >= 0.
  Matrix(int64_t numRows, int64_t numCols)
      : rows(numRows), cols(numCols),
        data(static_cast<size_t>(numRows) * static_cast<size_t>(numCols), 0.0) {
  }

  double &operator()(int64_t i, int64_t j) { return data[i * cols + j]; }
  double operator()(int64_t i, int64_t j) const { return data[i * cols + j]; }
  double *row(int64_t i) { return data.data() + i * cols; }
  const double *row(int64_t i) const { return data.data() + i * cols; }

  bool empty() const { return rows == 0 || cols == 0; }
  bool isSquare() const { return rows == cols; }
  /// True when data.size() matches rows * cols and neither is negative.
  bool isConsistent() const;

  static Matrix zeros(int64_t rows, int64_t cols) { return {rows, cols}; }
  static Matrix identity(int64_t n);
  /// Copies a row-major rows x cols block whose rows are `ld` elements apart
  /// (ld >= cols), widening to fp64. Weight tensors arrive this way.
  static Matrix fromRowMajor(const float *src, int64_t rows, int64_t cols,
                             int64_t ld);
  static Matrix fromRowMajor(const double *src, int64_t rows, int64_t cols,
                             int64_t ld);

  Matrix transpose() const;
  /// The numRows x numCols sub-matrix starting at (row0, col0), copied. The
  /// block must lie inside the matrix (U_r is U.block(0, 0, U.rows, r); a
  /// GQA head's rows of U are U.block(h * d_h, 0, d_h, r)).
  Matrix block(int64_t row0, int64_t col0, int64_t numRows,
               int64_t numCols) const;
  /// Narrows to f32 in row-major order (for writing factors back).
  std::vector<float> toFloat() const;
};

/// C = op(A) * op(B), op(X) = X or Xᵀ, through cblas_dgemm. C may be the same
/// object as A or B. Fails on mismatched inner dimensions, inconsistent
/// matrices or non-finite entries.
bool matmul(const Matrix &A, const Matrix &B, Matrix &C, std::string &error,
            bool transA = false, bool transB = false);

/// Row i of M multiplied by s[i] (Σ_r V_rᵀ is scaleRows of V_rᵀ by S).
/// Fails if s.size() != M.rows.
bool scaleRows(Matrix &M, const std::vector<double> &s, std::string &error);
/// Column j of M multiplied by s[j] (U_r Σ_r). Fails if s.size() != M.cols.
bool scaleColumns(Matrix &M, const std::vector<double> &s, std::string &error);

/// Rescales every column to unit Euclidean norm, as matching pursuit needs
/// its dictionary atoms. Fails, leaving M unchanged, if a column has zero or
/// non-finite norm (the error names the column).
bool normalizeColumns(Matrix &M, std::string &error);

/// True when every element is finite. When not, and `where` is given, it
/// receives "<value> at (i, j)" for the first offending element.
bool allFinite(const Matrix &M, std::string *where = nullptr);

/// sqrt(Σ a_ij²), computed without overflow for large entries.
double frobeniusNorm(const Matrix &M);

/// max |A_ij - B_ij|; +inf if the shapes differ.
double maxAbsDiff(const Matrix &A, const Matrix &B);

} // namespace attenuate::numerics

#endif // ATTENUATE_NUMERICS_MATRIX_H
