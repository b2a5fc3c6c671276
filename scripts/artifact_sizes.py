"""The deployable artifacts `sam build` produced: each function's bootstrap, zipped as Lambda receives it."""
import io
import pathlib
import zipfile

root = pathlib.Path(__file__).resolve().parent.parent
print(f"{'function':<28} {'bootstrap MB':>12} {'zipped MB':>10}")
for bootstrap in sorted((root / ".aws-sam" / "build").glob("*Function/bootstrap")):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(bootstrap, "bootstrap")
    raw, zipped = bootstrap.stat().st_size, len(buffer.getvalue())
    print(f"{bootstrap.parent.name:<28} {raw / 1e6:>12.2f} {zipped / 1e6:>10.2f}")
