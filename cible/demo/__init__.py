"""Demo data for Cible: a French luxury house ("Maison") with planted personas and defects.

``generate`` writes every source of the contract into a landing folder and the ground truth
(personas, purchase probabilities, duplicate records, devices, future outcomes, defect counts)
into a separate truth folder that the pipeline never reads. See README.md in this folder.
"""

from .generator import DEFECT_RATES, MARKER, generate

__all__ = ["DEFECT_RATES", "MARKER", "generate"]
