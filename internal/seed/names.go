package seed

import "strings"

// category is a department with the things it sells, the brands that make
// them and a plausible price band in won.
type category struct {
	slug, name   string
	nouns        []string
	brands       []string
	minP, maxP   int64
	descriptions []string
}

var categories = []category{
	{"audio", "Audio", []string{"Wireless Headphones", "Noise-Cancelling Headphones", "True Wireless Earbuds", "Bluetooth Speaker", "Soundbar", "Turntable", "Studio Monitor", "Portable Radio"},
		[]string{"Sonora", "Hanbit Audio", "Aurel", "Bassline", "Echo Lane"}, 19000, 890000,
		[]string{"Balanced sound with deep bass and a battery that lasts the whole week.", "Foldable, light and made for the commute.", "Clear voice calls with four microphones."}},
	{"computers", "Computers", []string{"Ultrabook", "Gaming Laptop", "Mechanical Keyboard", "Wireless Mouse", "27-inch Monitor", "USB-C Hub", "Portable SSD", "Webcam"},
		[]string{"Jaeum", "Kestrel", "Northbyte", "Pixelon", "Corelight"}, 15000, 2000000,
		[]string{"Fast storage and a bright screen in an aluminium body.", "Quiet keys with hot-swappable switches.", "Plug and play on every major system."}},
	{"phones", "Phones & Tablets", []string{"Smartphone", "Tablet", "Phone Case", "Screen Protector", "Wireless Charger", "Power Bank", "Stylus Pen", "Car Mount"},
		[]string{"Galaxa", "Mirae Mobile", "Orbit", "Haneul", "Voltis"}, 5000, 1800000,
		[]string{"All-day battery and a camera that shines at night.", "Slim, tough and drop tested from two metres.", "Charges two devices at once."}},
	{"cameras", "Cameras", []string{"Mirrorless Camera", "Action Camera", "Instant Camera", "Camera Lens", "Tripod", "Camera Bag", "Memory Card", "Ring Light"},
		[]string{"Lumina", "Shutterline", "Okra Optics", "Framewell", "Bright Field"}, 9000, 1990000,
		[]string{"Sharp pictures in low light with fast autofocus.", "Waterproof to ten metres without a housing.", "Light enough for a day of travel."}},
	{"appliances", "Home Appliances", []string{"Robot Vacuum", "Air Purifier", "Dehumidifier", "Stick Vacuum", "Electric Fan", "Humidifier", "Steam Iron", "Space Heater"},
		[]string{"Cleanary", "Hwaseong Home", "Breezo", "Purely", "Ondol"}, 19000, 1500000,
		[]string{"Quiet at night and smart enough to map every room.", "HEPA filter catches 99.97% of fine dust.", "Energy class A with a two-year warranty."}},
	{"kitchen", "Kitchen", []string{"Rice Cooker", "Air Fryer", "Coffee Grinder", "Knife Set", "Cast Iron Pan", "Electric Kettle", "Blender", "Lunch Box"},
		[]string{"Bapsang", "Cookwell", "Ironleaf", "Morning Brew", "Sikdang"}, 3000, 690000,
		[]string{"Perfect rice every time, with a keep-warm that keeps it fluffy.", "Heats evenly and lasts a lifetime.", "Dishwasher safe and easy to clean."}},
	{"furniture", "Furniture", []string{"Office Chair", "Standing Desk", "Bookshelf", "Floor Lamp", "Sofa Bed", "Bedside Table", "Shoe Rack", "Storage Box"},
		[]string{"Namu Living", "Oakroom", "Stillwood", "Maru", "Fold & Form"}, 9000, 1900000,
		[]string{"Solid wood, easy to assemble in under an hour.", "Ergonomic support for long working days.", "Fits small apartments without feeling small."}},
	{"fashion", "Fashion", []string{"Down Jacket", "Wool Coat", "Hoodie", "Denim Jeans", "Linen Shirt", "Knit Sweater", "Rain Jacket", "Leather Belt"},
		[]string{"Seoul Standard", "Thread & Co", "Gyeoul", "Mono Atelier", "Weekend Club"}, 9000, 590000,
		[]string{"Warm without the bulk, packs into its own pocket.", "Soft cotton that gets better with every wash.", "A relaxed fit for every day."}},
	{"shoes", "Shoes", []string{"Running Shoes", "Trail Sneakers", "Leather Loafers", "Hiking Boots", "Slip-on Sneakers", "Sandals", "Rain Boots", "Court Shoes"},
		[]string{"Stride", "Dalrim", "Footnote", "Peakwalk", "Cloudstep"}, 15000, 390000,
		[]string{"Cushioned for long runs and light on the foot.", "Grippy sole for wet trails.", "Handmade in Seongsu."}},
	{"beauty", "Beauty", []string{"Sheet Mask Set", "Sunscreen SPF50", "Cleansing Foam", "Hydrating Serum", "Lip Tint", "Hand Cream", "Hair Dryer", "Facial Toner"},
		[]string{"Glowlab", "Dewy", "Cheongsu", "Petal & Pine", "Skinfirst"}, 1000, 290000,
		[]string{"Light, non-sticky and kind to sensitive skin.", "Fragrance free, dermatologist tested.", "Travel size for your carry-on."}},
	{"sports", "Sports & Outdoors", []string{"Yoga Mat", "Camping Tent", "Road Bike Helmet", "Dumbbell Set", "Hiking Backpack", "Sleeping Bag", "Badminton Racket", "Water Bottle"},
		[]string{"Bukhan Gear", "Trailmark", "Fitform", "Summit Co", "Riverbend"}, 5000, 990000,
		[]string{"Built for weekends on Bukhansan and beyond.", "Sets up in five minutes, even in the rain.", "Non-slip surface and a carrying strap."}},
	{"books", "Books & Stationery", []string{"Fountain Pen", "Dot Grid Notebook", "Novel (Hardcover)", "Cookbook", "Desk Planner", "Watercolour Set", "Mechanical Pencil", "Photo Album"},
		[]string{"Paperhaus", "Inkwell", "Morning Page", "Hangeul Press", "Linebook"}, 1000, 190000,
		[]string{"Thick paper that takes fountain pen ink without bleeding.", "A year on a page, undated so you can start any time.", "A bestseller now in a collector's edition."}},
}

var series = []string{"Air", "Pro", "Lite", "Max", "Mini", "One", "Plus", "Neo", "Go", "Ultra", "Classic", "Studio", "Flex", "Prime", "Edge"}
var colours = []string{"Black", "White", "Navy", "Sand", "Forest Green", "Charcoal", "Sky Blue", "Coral", "Ivory", "Graphite"}

var details = []string{
	"comes with everything you need to start on day one.",
	"is our best seller in its class this season.",
	"was designed in Seoul and tested by our own team.",
	"is covered by a two-year warranty and free repairs.",
	"is made from recycled materials where it counts.",
	"has a 4.7 star rating from more than a thousand buyers.",
	"replaces last year's model with a lighter build.",
	"is a gift our customers buy again and again.",
}

var promises = []string{
	"Free delivery over ₩30,000.",
	"Ships the next working day.",
	"Free returns within 30 days.",
	"Dawn delivery in the capital area.",
	"Gift wrapping on request.",
}

// lineNames is how many product-line names there are. A tenth of the
// products carry one, so at a million products each is held by about 5:
// the rare words a shopper types when looking for one thing.
const lineNames = 20_000

var syllables = []string{"ka", "lo", "mi", "ren", "so", "ta", "vel", "dor", "ni", "ra", "zen", "ul",
	"bri", "co", "fa", "gan", "hel", "jo", "lu", "mar", "nor", "pe", "qui", "sil", "tor", "ve", "wyn", "yo"}

// lineName is the n-th product-line name (n < 28³): three syllables,
// capitalised, one word ("Kalomi", "Vendorsil").
func lineName(n int) string {
	k := len(syllables)
	w := syllables[n%k] + syllables[n/k%k] + syllables[n/k/k%k]
	return strings.ToUpper(w[:1]) + w[1:]
}
