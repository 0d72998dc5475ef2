"""Charts are real PNGs whose bytes depend only on the data (same input, same file)."""
import io
import subprocess
import sys

from matplotlib.image import imread

from autograder.reports import charts

PROGRAM = ("import sys; from autograder.reports import charts; sys.stdout.buffer.write("
           "charts.score_histogram([0, 12, 17.5, 23, 23], 23) + "
           "charts.pass_rate_bars(['mse_public', 'bce_hidden'], [1.0, 0.25]))")


def test_png_with_fixed_size_and_drawn_content():
    png = charts.pass_rate_bars(["mse_public", "mse_hidden", "bce_hidden"], [1.0, 0.6, 0.0])
    pixels = imread(io.BytesIO(png))
    assert png.startswith(b"\x89PNG") and pixels.shape[1] == 640
    assert pixels[..., :3].std() > 0.05
    assert b"Software" not in png


def test_same_data_same_bytes_across_processes():
    runs = [subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, check=True).stdout
            for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0]) > 10_000


def test_empty_inputs_still_draw():
    assert charts.score_histogram([], 36).startswith(b"\x89PNG")
    assert charts.pass_rate_bars([], []).startswith(b"\x89PNG")
