"""PSNR and SSIM on the Y channel with the border shaved, as the SR literature reports them."""
from __future__ import annotations

import cv2
import numpy as np


def shave(image: np.ndarray, border: int) -> np.ndarray:
    """Drop `border` pixels from each edge (the convention is border = scale)."""
    return image[border:-border, border:-border] if border else image


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB between two same-sized arrays in 0..peak."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak * peak / mse))


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """SSIM of Wang et al. 2004: Gaussian 11x11 window, sigma 1.5, 'valid' borders."""
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    kernel = cv2.getGaussianKernel(11, 1.5)
    window = kernel @ kernel.T
    a, b = a.astype(np.float64), b.astype(np.float64)

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, window)[5:-5, 5:-5]

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))
